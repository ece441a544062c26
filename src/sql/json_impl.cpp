// Boost.JSON's implementation, compiled once (Debian ships no libboost_json
// for 1.81; the library is header-only when built this way).
#include <boost/json/src.hpp>
