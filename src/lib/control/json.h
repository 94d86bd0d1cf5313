// JSON for the control channel and statdctl: nlohmann::json (Debian's
// nlohmann-json3-dev) behind two helpers that never throw, so no exception leaves a
// module (parse errors become a Status; invalid UTF-8 is replaced when dumping).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace nsm::control {

using Json = nlohmann::json;

// Parses one JSON text. kInvalidArgument with the parser's message (position included).
Result<Json> ParseJson(std::string_view text);

// Compact (indent < 0) or pretty text. Never throws.
std::string DumpJson(const Json& j, int indent = -1);

// Typed member access without exceptions: nullopt when `key` is absent, not of the
// type, or (integers) outside the range.
std::optional<std::string> GetString(const Json& obj, const char* key);
std::optional<int64_t> GetInt(const Json& obj, const char* key, int64_t min, int64_t max);
std::optional<bool> GetBool(const Json& obj, const char* key);

}  // namespace nsm::control
