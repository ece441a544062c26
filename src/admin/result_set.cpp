#include "admin/result_set.h"

#include "protocol/message_type.h"
#include "protocol/writer.h"

namespace usher::admin {

void ResultSet::write(std::string& out) const {
  protocol::MessageWriter w(out);
  w.begin(protocol::PqMsg_RowDescription).i16(static_cast<int16_t>(columns_.size()));
  for (const auto& c : columns_) {
    int16_t len = c.type_oid == kInt4 ? 4 : c.type_oid == kInt8 ? 8 : -1;
    w.cstring(c.name).i32(0).i16(0).i32(c.type_oid).i16(len).i32(-1).i16(0);
  }
  w.finish();
  std::vector<protocol::Field> fields;
  for (const auto& row : rows_) {
    fields.clear();
    for (const auto& v : row)
      fields.push_back(v ? protocol::Field{*v, false} : protocol::Field{{}, true});
    protocol::write_data_row(out, fields);
  }
  protocol::write_command_complete(out, "SHOW");
}

}  // namespace usher::admin
