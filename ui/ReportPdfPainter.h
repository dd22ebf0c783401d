#pragma once

#include <QCoreApplication>
#include <QFont>
#include <QList>
#include <QString>
#include <QStringList>

class QIODevice;

namespace ticketsync {

// Everything the PDF report shows, gathered from the cache before painting starts.
struct ReportPdfData
{
    QString period;  // already formatted
    QString filters; // already formatted
    QString generatedBy;
    qint64 generatedAtMs = 0;
    QString source; // the cache file

    qint64 decisions = 0;
    qint64 decided = 0;
    qint64 undetermined = 0;
    struct StateBar
    {
        QString label;
        qint64 count = 0;
        bool undetermined = false;
    };
    QList<StateBar> byState; // decided states in code order, then UNDETERMINED

    struct UndeterminedRow
    {
        QString ticket;
        qint64 version = 0;
        qint64 decidedAtMs = 0;
        qint64 missing = 0;
        qint64 count = 0;
        qint64 n = 0;
        qint64 q = 0;
    };
    QList<UndeterminedRow> undeterminedRows;
    qint64 undeterminedMore = 0; // beyond the list's cap

    struct ReceiverRow
    {
        QString receiver;
        QString node;
        QString status;
        qint64 ackedHeight = 0;
        qint64 headHeight = 0;
        qint64 lagBlocks = 0;
        qint64 lagMs = 0;
        QString lastError;
        qint64 asOfMs = 0;
    };
    QList<ReceiverRow> receivers;

    struct BlockRow
    {
        QString node;
        qint64 blocks = 0;
        qint64 lowest = 0;
        qint64 highest = 0;
        qint64 lastTimestampMs = 0;
    };
    QList<BlockRow> blocks;

    bool verified = false;    // a membership was given and loaded
    QString verificationNote; // why not, or the membership used
    qint64 certificatesVerified = 0;
    qint64 certificatesFailed = 0;
    qint64 withoutCertificate = 0; // decisions in the period with no cached certificate
    QStringList failures;          // the first few, "ticket: reason"
    qint64 failuresMore = 0;

    qint64 alertsOpen = 0; // raised and not acknowledged
    qint64 alertsTotal = 0;
};

// Lays the report out on A4 pages with QPdfWriter and QPainter (QtGui only; works offscreen).
//
// Text is set in DejaVu Sans for Latin, with a CJK font as the next family for Chinese: the
// console's zh_CN strings and any Chinese in the data (issuers, references, tickets). The PDF
// engine embeds a subset of each font it uses, so the text stays text. Without an installed CJK
// font the export still succeeds, but says so instead of silently drawing empty boxes.
class ReportPdfPainter
{
    Q_DECLARE_TR_FUNCTIONS(ReportPdfPainter)

public:
    // Writes the PDF to device; returns the page count, or 0 with *error set. *warning (if
    // given) is set when some of the text had no glyph in any installed font and so shows as
    // empty boxes; it is also logged under ticketsync.ui.export.
    static int paint(const ReportPdfData &data, QIODevice *device, QString *error,
                     QString *warning = nullptr);

    // The installed font the report uses for Chinese text, found once per process: the first of
    // a few well-known ones, else any with Simplified Chinese glyphs, that the PDF may embed.
    // Empty when there is none.
    static QString cjkFamily();
    // The report's font at one size: DejaVu Sans, then cjkFamily() when there is one.
    static QFont font(qreal pointSize, bool bold = false);
};

} // namespace ticketsync
