// `surgeon <command> ...`: each command lives in its own file and registers itself with
// SURGEON_COMMAND, so commands are added without touching main.cpp.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace surgeon::cli {

using CommandFn = std::function<int(const std::vector<std::string>& args)>;

struct CommandInfo {
    CommandFn run;
    std::string summary;
};

std::map<std::string, CommandInfo>& commands();

struct Registrar {
    Registrar(const std::string& name, const std::string& summary, CommandFn fn) {
        commands()[name] = {std::move(fn), summary};
    }
};

}  // namespace surgeon::cli

#define SURGEON_COMMAND(name, summary, fn) \
    static ::surgeon::cli::Registrar surgeon_command_registrar_##fn(name, summary, fn)
