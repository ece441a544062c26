// The catalog poll's fingerprint: one cheap query that tells whether any
// catalog the cache decides with has changed since the catalog was loaded.
// test_decoding shows no DDL, so a transaction that mixes DDL with row
// changes (CREATE OR REPLACE VIEW, then INSERT) is streamed as a change to
// the table alone; the poll is what catches its catalog change.
//
// Per catalog: count(*) (a row created or dropped) and the sum of the rows'
// xmin (a row updated: ALTER, GRANT, CREATE OR REPLACE get a new row
// version with the updating transaction's xid). A sum, not a max: a
// transaction that started earlier but commits later has the smaller xid.
// ANALYZE and VACUUM update pg_class in place, keeping xmin, so they do not
// count as changes. pg_authid is readable by superusers only: the roles are
// fingerprinted by a hash of pg_roles' rows (attributes and settings)
// instead.
//
// Pure: no I/O (the stream runs the query).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cache/catalog.h"
#include "common/result.h"

namespace usher::cache {

// The catalogs the query watches, in a fixed order.
const std::vector<std::string_view>& fingerprint_catalogs();

// The query: one row per catalog, (name, count, digest), in no particular
// order (an Append may run its parts in parallel).
const std::string& fingerprint_query();

struct CatalogFingerprint {
  // Per catalog of fingerprint_catalogs(), in that order: "count digest".
  std::vector<std::string> parts;
  bool operator==(const CatalogFingerprint&) const = default;
};

// Fails unless the rows are exactly the query's: every catalog once, with
// integer count and digest.
Result<CatalogFingerprint> parse_fingerprint(const Rows& rows);

// The catalogs whose parts differ, for the log (all of them when the two
// are not of the same shape).
std::vector<std::string_view> changed_catalogs(const CatalogFingerprint& before,
                                               const CatalogFingerprint& after);

}  // namespace usher::cache
