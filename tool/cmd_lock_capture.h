// `sifstore lock capture SIF [-o FILE] [--method static|exec] [--builder CMD]`:
// the handler of the `capture` subcommand of `sifstore lock` (tool/cmd_lock.cpp
// dispatches to it; tool/cmd_lock_capture.cpp defines it). args are the words
// after `capture`.
#pragma once

#include <string>
#include <vector>

#include "tool/command.h"

namespace sifstore::tool {

int lock_capture(Context& ctx, const std::vector<std::string>& args);

}  // namespace sifstore::tool
