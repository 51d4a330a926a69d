// surgeon-bench-tokenizer: encoding speed of the tokenizer.json reader on one core. Each
// tokenizer is loaded fresh (empty word cache), then encodes the first --bytes of the text
// in one call (as `--mode windows` does), then line by line (as calibration paragraphs
// are), --repeat times; the first pass is the cold one. Rates are MB per second of the
// thread's CPU time (what one core does, whatever else the machine runs); the wall-clock
// rate of the best whole-text pass is printed too.
//
//   surgeon-bench-tokenizer [--text FILE] [--bytes 1000000] [--repeat 3] [TOKENIZER.json ...]
//
// Defaults: ../shared/data/wikitext-2-raw-v1.test.joined.txt and the four tokenizer.json
// files under ../shared/data/tokenizers.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "io/hf_tokenizer.hpp"

using namespace surgeon::model;

namespace {

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(stderr, "surgeon-bench-tokenizer: %s\nusage: surgeon-bench-tokenizer [--text FILE] [--bytes N] "
                         "[--repeat N] [TOKENIZER.json ...]\n", why.c_str());
    std::exit(2);
}

double cpu_now() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) usage("cannot open '" + path + "'");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
    const std::string shared = std::string(SURGEON_SHARED_DIR) + "/data";
    std::string text_path = shared + "/wikitext-2-raw-v1.test.joined.txt";
    size_t bytes = 1000000;
    int repeat = 3;
    std::vector<std::string> tokenizers;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(a + " needs a value");
            return argv[++i];
        };
        if (a == "--text") text_path = value();
        else if (a == "--bytes") bytes = std::strtoull(value().c_str(), nullptr, 10);
        else if (a == "--repeat") repeat = std::atoi(value().c_str());
        else if (a.rfind("--", 0) == 0) usage("unknown option " + a);
        else tokenizers.push_back(a);
    }
    if (bytes == 0 || repeat < 1) usage("--bytes and --repeat must be positive");
    if (tokenizers.empty())
        for (const char* name : {"mistral-7b-v0.1", "phi-3-mini", "phi-2", "falcon-7b"})
            tokenizers.push_back(shared + "/tokenizers/" + name + "/tokenizer.json");

    std::string text = read_all(text_path);
    if (text.size() > bytes) {
        size_t cut = bytes;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // whole characters
        text.resize(cut);
    }
    std::vector<std::string> lines;
    for (size_t at = 0; at < text.size();) {
        size_t end = text.find('\n', at);
        end = end == std::string::npos ? text.size() : end + 1;
        lines.push_back(text.substr(at, end - at));
        at = end;
    }
    const double mb = static_cast<double>(text.size()) / 1e6;
    std::printf("text: %s, %.3f MB, %zu lines; one thread\n", text_path.c_str(), mb, lines.size());
    std::printf("%-18s %8s %8s %11s %11s %11s %11s\n", "tokenizer", "load s", "tokens", "whole MB/s", "lines MB/s",
                "cold MB/s", "wall MB/s");
    for (const std::string& path : tokenizers) {
        double t0 = cpu_now();
        const HfTokenizer tok = HfTokenizer::load(path);
        const double load = cpu_now() - t0;
        double best_whole = 0, best_lines = 0, cold = 0, best_wall = 0;
        size_t count = 0;
        for (int r = 0; r < repeat; ++r) {
            t0 = cpu_now();
            const double w0 = bench::now();
            count = tok.encode(text, false).size();
            const double whole = mb / (cpu_now() - t0);
            best_wall = std::max(best_wall, mb / (bench::now() - w0));
            if (r == 0) cold = whole;
            t0 = cpu_now();
            size_t line_tokens = 0;
            for (const std::string& line : lines) line_tokens += tok.encode(line, false).size();
            const double by_line = mb / (cpu_now() - t0);
            if (line_tokens == 0) usage("no tokens");
            best_whole = std::max(best_whole, whole);
            best_lines = std::max(best_lines, by_line);
        }
        std::string name = path;
        const std::string suffix = "/tokenizer.json";
        if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
            name.resize(name.size() - suffix.size());
            name = name.substr(name.rfind('/') + 1);
        }
        std::printf("%-18s %8.2f %8zu %11.1f %11.1f %11.1f %11.1f\n", name.c_str(), load, count, best_whole,
                    best_lines, cold, best_wall);
    }
    return 0;
}
