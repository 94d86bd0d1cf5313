// Non-throwing wrappers around nlohmann::json (see json.h).
#include "control/json.h"

namespace nsm::control {

Result<Json> ParseJson(std::string_view text) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return Status(Code::kInvalidArgument, std::string("invalid JSON: ") + e.what());
  }
}

std::string DumpJson(const Json& j, int indent) {
  try {
    return j.dump(indent, ' ', false, Json::error_handler_t::replace);
  } catch (const Json::exception& e) {
    return "null";
  }
}

std::optional<std::string> GetString(const Json& obj, const char* key) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<int64_t> GetInt(const Json& obj, const char* key, int64_t min, int64_t max) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  int64_t v = 0;
  if (it->is_number_unsigned()) {
    const uint64_t u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    v = static_cast<int64_t>(u);
  } else if (it->is_number_integer()) {
    v = it->get<int64_t>();
  } else {
    return std::nullopt;
  }
  if (v < min || v > max) return std::nullopt;
  return v;
}

std::optional<bool> GetBool(const Json& obj, const char* key) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_boolean()) return std::nullopt;
  return it->get<bool>();
}

}  // namespace nsm::control
