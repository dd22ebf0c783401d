#pragma once

#include <QByteArray>

namespace ticketsync {

constexpr qsizetype kDigestSize = 32;

// SHA-256 through OpenSSL, which uses the CPU's SHA extensions where present.
QByteArray sha256(const QByteArray &data);

} // namespace ticketsync
