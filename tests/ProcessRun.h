#pragma once

#include <QByteArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QString>
#include <QStringList>

// One run of a program to its end, as the tests of the command-line programs look at it.
struct ProcessRun
{
    int exitCode = -1; // -1: it crashed or did not finish in time (errText() says which)
    QByteArray out;
    QByteArray err;

    QString outText() const { return QString::fromUtf8(out); }
    QString errText() const { return QString::fromUtf8(err); }
    QJsonObject json() const { return QJsonDocument::fromJson(out).object(); }

    static ProcessRun of(const QString &program, const QStringList &arguments, int timeoutMs = 120000)
    {
        QProcess process;
        process.start(program, arguments);
        ProcessRun run;
        if (!process.waitForStarted(10000)) {
            run.err = QStringLiteral("%1 did not start: %2").arg(program, process.errorString()).toUtf8();
            return run;
        }
        if (!process.waitForFinished(timeoutMs)) {
            process.kill();
            process.waitForFinished();
            run.err = QStringLiteral("%1 did not finish in %2 ms").arg(program).arg(timeoutMs).toUtf8();
            return run;
        }
        run.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
        run.out = process.readAllStandardOutput();
        run.err = process.readAllStandardError();
        return run;
    }
};
