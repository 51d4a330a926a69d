#include "io/llama2c.hpp"

#include "io/model_reader.hpp"
#include "io/model_writer.hpp"

namespace surgeon::model {

Model read_llama2c(const std::string& path) { return materialize(*open_llama2c(path)); }

void write_llama2c(const Model& m, const std::string& path) {
    WriterOptions options;
    options.format = ModelFormat::llama2c;
    options.overwrite = true;
    write_model(m, path, options);
}

}  // namespace surgeon::model
