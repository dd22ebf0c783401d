#include "ReportExporter.h"

#include "ReportWorker.h"

#include <QLoggingCategory>
#include <QThread>

namespace ticketsync {

Q_LOGGING_CATEGORY(lcReportExporter, "ticketsync.ui.export", QtWarningMsg)

ReportExporter::ReportExporter(QObject *parent) : QObject(parent) {}

ReportExporter::~ReportExporter()
{
    if (thread) {
        cancel();
        thread->quit();
        thread->wait();
    }
}

bool ReportExporter::start(const ReportRequest &request)
{
    if (thread) {
        qCWarning(lcReportExporter) << "an export is already running; not starting another";
        return false;
    }
    cancelled = std::make_shared<std::atomic_bool>(false);
    lastOk = false;
    lastPath = request.outputPath;
    lastSummary.clear();

    thread = new QThread(this);
    thread->setObjectName(QStringLiteral("ReportExporter"));
    auto *worker = new ReportWorker(request, cancelled);
    worker->moveToThread(thread);
    connect(thread, &QThread::started, worker, &ReportWorker::run);
    connect(worker, &ReportWorker::progress, this, &ReportExporter::progress);
    connect(worker, &ReportWorker::failed, this, &ReportExporter::failed);
    // Remembered here; announced once the thread is gone, so a handler may start the next one.
    connect(worker, &ReportWorker::finished, this,
            [this](bool ok, const QString &path, const QString &summary) {
                lastOk = ok;
                lastPath = path;
                lastSummary = summary;
            });
    connect(worker, &ReportWorker::finished, thread, &QThread::quit);
    connect(thread, &QThread::finished, worker, &QObject::deleteLater);
    connect(thread, &QThread::finished, this, &ReportExporter::threadFinished);
    thread->start(QThread::LowPriority);
    return true;
}

void ReportExporter::cancel()
{
    if (cancelled)
        cancelled->store(true);
}

void ReportExporter::threadFinished()
{
    if (!thread)
        return;
    thread->deleteLater();
    thread = nullptr;
    Q_EMIT finished(lastOk, lastPath, lastSummary);
}

} // namespace ticketsync
