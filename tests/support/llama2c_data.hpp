// Locates the stories260K files: the copies bundled in samples/data, else the shared data
// folder of dev machines. Returns "" when neither has the file.
#pragma once

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

namespace surgeon_test {

inline bool file_exists(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f) std::fclose(f);
    return f != nullptr;
}

// `bundled`: the name under samples/data; `shared`: the name under ../shared/data.
inline std::string data_file(const std::string& bundled, const std::string& shared = "") {
    const std::string local = std::string(SURGEON_SAMPLES_DATA_DIR) + "/" + bundled;
    if (file_exists(local)) return local;
    const std::string remote =
        std::string(SURGEON_SHARED_DIR) + "/data/" + (shared.empty() ? bundled : shared);
    return file_exists(remote) ? remote : "";
}

inline std::string model_file() { return data_file("stories260K.bin"); }
inline std::string tokenizer_file() { return data_file("tok512.bin"); }
inline std::string stories_file() {
    return data_file("tinystories-valid.txt", "tinystories-valid.first-stories.txt");
}

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace surgeon_test
