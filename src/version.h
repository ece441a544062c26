#pragma once

namespace usher {
inline constexpr const char* kVersion = "0.1.0";
inline constexpr const char* kVersionString = "Usher 0.1.0";
}  // namespace usher
