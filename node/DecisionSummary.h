#pragma once

#include "Decision.h"
#include "JsonObjectWriter.h"

#include <QJsonObject>

namespace ticketsync {

// A decision as the API shows it (docs/api.md: the `decision` reply and the `decision_made`
// event): the write-off, the outcome, the histogram, n and q. One builder, so the node, the
// console's tests and anything else that speaks the API agree on every field.
//
// The writer form is the coordinator's, which emits one for every write-off; the caller may add
// fields before it finishes the object.
JsonObjectWriter decisionSummaryWriter(const Decision &decision, const QByteArray &writeOffDigest);
QJsonObject decisionSummary(const Decision &decision, const QByteArray &writeOffDigest);
inline QJsonObject decisionSummary(const Decision &decision)
{
    return decisionSummary(decision, decision.writeOff.digest());
}

} // namespace ticketsync
