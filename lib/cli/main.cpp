#include <cstdio>
#include <exception>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "surgeon/surgeon.h"

namespace surgeon::cli {
std::map<std::string, CommandInfo>& commands() {
    static std::map<std::string, CommandInfo> table;
    return table;
}
}  // namespace surgeon::cli

namespace {
void usage() {
    std::fprintf(stderr, "surgeon %s — one-shot pruning and quantization of LLM layers\n\nusage: surgeon <command> [options]\n\ncommands:\n", surgeon_version());
    for (const auto& [name, info] : surgeon::cli::commands())
        std::fprintf(stderr, "  %-12s %s\n", name.c_str(), info.summary.c_str());
}
}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (std::string(argv[1]) == "--version") {
        std::printf("surgeon %s\n", surgeon_version());
        return 0;
    }
    auto& table = surgeon::cli::commands();
    auto it = table.find(argv[1]);
    if (it == table.end()) {
        std::fprintf(stderr, "surgeon: unknown command '%s'\n", argv[1]);
        usage();
        return 2;
    }
    try {
        return it->second.run(std::vector<std::string>(argv + 2, argv + argc));
    } catch (const surgeon::Error& e) {
        std::fprintf(stderr, "surgeon %s: error: %s\n", argv[1], e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "surgeon %s: error: %s\n", argv[1], e.what());
    }
    return 1;
}
