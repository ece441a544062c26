#include "auth/ident.h"

#include "auth/conf_words.h"
#include "protocol/sqlstate.h"

namespace usher::auth {

namespace {

Error invalid(std::string why) {
  return make_error(protocol::sqlstate::config_file_error, std::move(why));
}

Result<IdentEntry> parse_entry(const std::vector<ConfField>& fields) {
  const ConfWord& first = fields[0][0];
  if (!first.quoted &&
      (first.text == "include" || first.text == "include_if_exists" || first.text == "include_dir"))
    return invalid("include lines are not supported in auth_ident_file");
  if (fields.size() != 3) return invalid("expected map-name system-username database-username");
  for (const ConfField& f : fields) {
    if (f.size() != 1) return invalid("lists are not allowed in auth_ident_file");
    if (f[0].text.empty()) return invalid("empty name");
  }
  IdentEntry e;
  e.map = fields[0][0].text;
  const ConfWord& system = fields[1][0];
  const ConfWord& database = fields[2][0];
  e.system_user = system.text;
  if (system.text.starts_with("/")) {
    e.system_user = system.text.substr(1);
    try {
      e.pattern = std::make_shared<const std::regex>(e.system_user);
    } catch (const std::regex_error& err) {
      return invalid("invalid regular expression \"" + e.system_user + "\": " + err.what());
    }
  }
  e.all = !database.quoted && database.text == "all";
  e.database_user = database.text;
  if (!database.quoted && database.text.starts_with("+"))
    return invalid("group membership (" + database.text +
                   ") is not supported: Usher cannot see the roles");
  if (!database.quoted && database.text.starts_with("/"))
    return invalid("regular expressions in database-username are not supported");
  if (database.text.find("\\1") != std::string::npos) {
    if (!e.pattern) return invalid("\\1 in database-username needs a regular expression");
    if (e.pattern->mark_count() < 1)
      return invalid("regular expression \"" + e.system_user +
                     "\" has no subexpressions as requested by backreference in \"" +
                     database.text + "\"");
  }
  return e;
}

bool entry_allows(const IdentEntry& e, std::string_view system_user,
                  std::string_view database_user) {
  if (!e.pattern) {
    return e.system_user == system_user && (e.all || e.database_user == database_user);
  }
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(system_user.begin(), system_user.end(), m, *e.pattern)) return false;
  if (e.all) return true;
  std::string wanted = e.database_user;
  if (size_t at = wanted.find("\\1"); at != std::string::npos) wanted.replace(at, 2, m[1].str());
  return wanted == database_user;
}

}  // namespace

Result<std::vector<IdentEntry>> parse_ident(std::string_view text, const std::string& file) {
  std::vector<IdentEntry> entries;
  for (const ConfLine& line : conf_lines(text)) {
    auto fields = split_conf_line(line.text);
    if (fields && fields->empty()) continue;
    Result<IdentEntry> entry =
        fields ? parse_entry(*fields) : Result<IdentEntry>(fields.take_error());
    if (!entry)
      return invalid(file + ":" + std::to_string(line.number) + ": " + entry.error().message);
    entry->line = line.number;
    entries.push_back(std::move(*entry));
  }
  return entries;
}

bool ident_allows(const std::vector<IdentEntry>& entries, std::string_view map,
                  std::string_view system_user, std::string_view database_user) {
  for (const IdentEntry& e : entries) {
    if (e.map == map && entry_allows(e, system_user, database_user)) return true;
  }
  return false;
}

}  // namespace usher::auth
