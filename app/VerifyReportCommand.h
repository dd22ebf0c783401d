#pragma once

#include <QStringList>

namespace ticketsync {

// `ticketsync verify-report FILE --membership FILE [--json]`: checks a JSON audit bundle from
// the console offline (core/AuditBundle.h). arguments start with the command name, as the other
// subcommands get them. Exit status 0 when it verifies, 1 when it does not, 2 for bad usage or
// an unreadable file. Prints a line, and when it verifies what the signatures prove, what the
// coordinator signed (entries with a block proof) and what is its unsigned word; or with json
// {ok, decisions, certificates_verified, confirmations_verified, error}, and when it verifies also
// {decided, undetermined, proven_by_signatures, signed_by_coordinator, proven_in_blocks,
// first_block, last_block, not_signed, unproven_counts, unproven_count_total}.
int verifyReportCommand(const QStringList &arguments, bool json);

} // namespace ticketsync
