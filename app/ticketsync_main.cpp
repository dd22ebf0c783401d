#include "CommandLineTool.h"

#include <QCoreApplication>

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("ticketsync"));
    QCoreApplication::setOrganizationDomain(QStringLiteral("ticketsync.example"));
    QCoreApplication::setApplicationVersion(QStringLiteral(TICKETSYNC_VERSION));
    return ticketsync::CommandLineTool().run(QCoreApplication::arguments());
}
