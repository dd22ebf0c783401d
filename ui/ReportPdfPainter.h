#pragma once

#include <QCoreApplication>
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
class ReportPdfPainter
{
    Q_DECLARE_TR_FUNCTIONS(ReportPdfPainter)

public:
    // Writes the PDF to device; returns the page count, or 0 with *error set.
    static int paint(const ReportPdfData &data, QIODevice *device, QString *error);
};

} // namespace ticketsync
