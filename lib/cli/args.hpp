// A small "--flag value" / "--switch" parser shared by the commands. Unknown flags and
// missing values are errors, reported as one line.
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace surgeon::cli {

class Args {
public:
    // `with_value`: flags that take a value; `switches`: flags that do not.
    Args(const std::vector<std::string>& argv, const std::set<std::string>& with_value,
         const std::set<std::string>& switches) {
        for (size_t i = 0; i < argv.size(); ++i) {
            const std::string& a = argv[i];
            if (with_value.count(a)) {
                if (i + 1 >= argv.size()) throw std::invalid_argument(a + " needs a value");
                values_[a] = argv[++i];
            } else if (switches.count(a)) {
                switches_.insert(a);
            } else {
                throw std::invalid_argument("unknown argument '" + a + "'");
            }
        }
    }
    bool has(const std::string& flag) const { return values_.count(flag) || switches_.count(flag); }
    std::string get(const std::string& flag, const std::string& fallback = "") const {
        auto it = values_.find(flag);
        return it == values_.end() ? fallback : it->second;
    }
    std::string require(const std::string& flag) const {
        auto it = values_.find(flag);
        if (it == values_.end()) throw std::invalid_argument(flag + " is required");
        return it->second;
    }
    double number(const std::string& flag, double fallback) const {
        auto it = values_.find(flag);
        if (it == values_.end()) return fallback;
        size_t used = 0;
        double v = 0;
        try {
            v = std::stod(it->second, &used);
        } catch (...) {
            used = 0;
        }
        if (used != it->second.size())
            throw std::invalid_argument(flag + " expects a number, got '" + it->second + "'");
        return v;
    }
    long long integer(const std::string& flag, long long fallback) const {
        auto it = values_.find(flag);
        if (it == values_.end()) return fallback;
        size_t used = 0;
        long long v = 0;
        try {
            v = std::stoll(it->second, &used);
        } catch (...) {
            used = 0;
        }
        if (used != it->second.size())
            throw std::invalid_argument(flag + " expects an integer, got '" + it->second + "'");
        return v;
    }

private:
    std::map<std::string, std::string> values_;
    std::set<std::string> switches_;
};

}  // namespace surgeon::cli
