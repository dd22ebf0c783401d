#pragma once

#include "ReportExporter.h"

#include <QObject>
#include <atomic>
#include <memory>

class QSaveFile;
class QSqlDatabase;

namespace ticketsync {

struct ReportPdfData;

// One audit export, run start to end on the thread that calls run() or execute(), with its
// own read-only SQLite connection to the cache. ReportExporter runs it on a worker thread;
// benchmarks and tests may call execute() directly.
class ReportWorker : public QObject
{
    Q_OBJECT

public:
    struct Result
    {
        bool ok = false;
        bool cancelled = false;
        QString error;   // set when it failed
        QString summary; // one line for the status bar
        qint64 decisions = 0;
        int pages = 0; // PDF only
    };

    ReportWorker(ReportRequest request, std::shared_ptr<std::atomic_bool> cancelled,
                 QObject *parent = nullptr);

    // Runs the export and emits progress(), failed() and finished() as it goes.
    Result execute();

public Q_SLOTS:
    void run() { execute(); }

Q_SIGNALS:
    void progress(int permille);
    void finished(bool ok, const QString &path, const QString &summary);
    void failed(const QString &error);

private:
    bool openCache(QSqlDatabase &db, QString *error);
    bool writeCsv(QSqlDatabase &db, QSaveFile &file, Result *result, QString *error);
    bool writeBundle(QSqlDatabase &db, QSaveFile &file, Result *result, QString *error);
    bool collectPdf(QSqlDatabase &db, ReportPdfData *data, Result *result, QString *error);
    bool isCancelled() const { return cancelFlag && cancelFlag->load(std::memory_order_relaxed); }
    // Maps done/total into the permille range [from, to] and emits it when it changed.
    void advance(qint64 done, qint64 total, int from, int to);
    // After each page: false when cancelled, else advance().
    bool pageDone(qint64 done, qint64 total, int from, int to);
    // After each page of a file export: writes the buffer out once it is full (memory stays
    // bounded), then pageDone() with progress from 0 to `to`.
    bool flushPage(QSaveFile &file, QByteArray &buffer, qint64 rows, qint64 total, int to);

    ReportRequest request;
    std::shared_ptr<std::atomic_bool> cancelFlag;
    int lastPermille = -1;
};

} // namespace ticketsync
