#include "SerialWorker.h"

namespace ticketsync {

SerialWorker::SerialWorker(const QString &threadName, QObject *parent) : QObject(parent)
{
    thread.setObjectName(threadName);
    context = new QObject;
    context->moveToThread(&thread);
    connect(&thread, &QThread::finished, context, &QObject::deleteLater);
    thread.start();
}

SerialWorker::~SerialWorker()
{
    thread.quit();
    thread.wait();
}

} // namespace ticketsync
