/* Without SURGEON_EXPERIMENTAL_API the experimental header declares nothing: this file
 * reuses the experimental names for enumerators, which would not compile if the
 * functions or the options type were declared. The stable API stays usable. */
#include <stdio.h>
#include <stdlib.h>

#include "surgeon/surgeon_experimental.h"

enum {
    surgeon_model_prune_structured = 1,
    surgeon_structured_options_new = 2,
    surgeon_structured_options = 3
};

int main(void) {
    if (surgeon_model_prune_structured + surgeon_structured_options_new +
            surgeon_structured_options != 6 ||
        surgeon_version_number() != SURGEON_VERSION_NUMBER) {
        fprintf(stderr, "unexpected values\n");
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}
