#include "ReportPdfPainter.h"

#include <QDateTime>
#include <QFontDatabase>
#include <QFontMetricsF>
#include <QHash>
#include <QLocale>
#include <QLoggingCategory>
#include <QPainter>
#include <QPdfWriter>
#include <QRawFont>
#include <QtEndian>

namespace ticketsync {

Q_LOGGING_CATEGORY(lcReportPdf, "ticketsync.ui.export", QtWarningMsg)

namespace {

QString latinFamily()
{
    return QStringLiteral("DejaVu Sans");
}

// Words the zh_CN report always writes (title, columns, page footer): a CJK font must have them.
QString cjkSample()
{
    return QStringLiteral(u"核销审计报告票据决议节点接收方第页");
}

// QPdfEngine embeds a subset of a font unless its OS/2 fsType forbids it (restricted licence, or
// bitmaps only); then it draws the glyphs as outlines, which look right but are no longer text.
bool pdfMayEmbed(const QRawFont &font)
{
    const QByteArray os2 = font.fontTable("OS/2");
    if (os2.size() < 10)
        return true;
    const quint16 fsType = qFromBigEndian<quint16>(os2.constData() + 8);
    return fsType != 0x0002 && (fsType & 0x0200) == 0;
}

bool coversSample(const QString &family)
{
    if (!QFontDatabase::isScalable(family))
        return false;
    const QRawFont raw = QRawFont::fromFont(QFont(family));
    if (!raw.isValid() || raw.familyName() != family || !pdfMayEmbed(raw))
        return false;
    const QList<uint> sample = cjkSample().toUcs4();
    for (const uint c : sample) {
        if (!raw.supportsCharacter(c))
            return false;
    }
    return true;
}

QString findCjkFamily()
{
    // Small, common and with sound Latin too; then whatever fontconfig says has Chinese.
    const QStringList preferred = {
        QStringLiteral("Noto Sans CJK SC"),    QStringLiteral("Source Han Sans SC"),
        QStringLiteral("WenQuanYi Micro Hei"), QStringLiteral("WenQuanYi Zen Hei"),
        QStringLiteral("Droid Sans Fallback"), QStringLiteral("AR PL UMing CN"),
        QStringLiteral("AR PL UKai CN"),
    };
    const QStringList installed = QFontDatabase::families();
    QStringList candidates;
    for (const QString &family : preferred) {
        if (installed.contains(family))
            candidates << family;
    }
    candidates << QFontDatabase::families(QFontDatabase::SimplifiedChinese)
               << QFontDatabase::families(QFontDatabase::TraditionalChinese);
    for (const QString &family : std::as_const(candidates)) {
        if (coversSample(family)) {
            qCInfo(lcReportPdf) << "PDF reports set Chinese text in" << family;
            return family;
        }
    }
    qCWarning(lcReportPdf) << "no installed font has Chinese glyphs that a PDF may embed; Chinese text in "
                              "PDF reports will show as empty boxes (install fonts-wqy-microhei)";
    return QString();
}

// Points: the writer runs at 72 dpi so one device unit is one point.
constexpr int kResolution = 72;
constexpr qreal kBodySize = 9;
constexpr qreal kSmallSize = 7.5;

const QColor kInk(0x20, 0x20, 0x20);
const QColor kMuted(0x70, 0x70, 0x70);
const QColor kRule(0xc8, 0xc8, 0xc8);
const QColor kHeaderFill(0xee, 0xee, 0xee);
const QColor kDecidedBar(0x2e, 0x7d, 0x32);
const QColor kUndeterminedBar(0xe6, 0x8a, 0x00);

QString utcText(qint64 ms)
{
    return QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC).toString(QStringLiteral("yyyy-MM-dd HH:mm:ss 'UTC'"));
}

// Table cells: the column header says UTC.
QString utcCell(qint64 ms)
{
    return QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC).toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
}

QString number(qint64 value)
{
    return QLocale::c().toString(value);
}

QString duration(qint64 ms)
{
    // The units are read by people, in the report's language; the numbers stay in C locale like
    // every other figure in the report.
    if (ms < 1000)
        //: A duration in milliseconds in the PDF report, e.g. "250 ms".
        return ReportPdfPainter::tr("%1 ms").arg(ms);
    if (ms < 120000)
        //: A duration in seconds with one decimal in the PDF report, e.g. "1.5 s".
        return ReportPdfPainter::tr("%1 s").arg(double(ms) / 1000.0, 0, 'f', 1);
    if (ms < 7200000)
        //: A duration in whole minutes in the PDF report, e.g. "12 min".
        return ReportPdfPainter::tr("%1 min").arg(ms / 60000);
    //: A duration in hours with one decimal in the PDF report, e.g. "3.5 h".
    return ReportPdfPainter::tr("%1 h").arg(double(ms) / 3600000.0, 0, 'f', 1);
}

// A cursor down the pages: breaks to a new page when the next item does not fit, and writes
// the footer on each page.
class PageCursor
{
    QPdfWriter &writer;
    QPainter &painter;
    QString footerText;

public:
    PageCursor(QPdfWriter &writer, QPainter &painter, QString footer)
        : writer(writer), painter(painter), footerText(std::move(footer)), width(writer.width()),
          bottom(writer.height() - 24)
    {}

    const qreal width;
    const qreal bottom;
    qreal y = 0;
    int page = 1;

    void ensure(qreal height)
    {
        if (y + height > bottom && y > 0)
            newPage();
    }
    void newPage()
    {
        drawFooter();
        writer.newPage();
        ++page;
        y = 0;
    }
    void finish() { drawFooter(); }

    static QFont font(qreal pointSize, bool bold = false) { return ReportPdfPainter::font(pointSize, bold); }

    // Characters drawn that no installed font has, so the PDF shows a box for each.
    qint64 missingCount = 0;
    QList<uint> missingExamples; // the first few, each once

    // Whether every character of content has a glyph in some font: the report's families or,
    // failing those, any fallback that fontconfig finds.
    bool covers(const QString &content)
    {
        const QList<uint> characters = content.toUcs4();
        for (const uint c : characters) {
            if (!covered(c))
                return false;
        }
        return true;
    }

    // Every string goes out through here, so what cannot be drawn is noticed.
    void draw(const QRectF &rect, int flags, const QString &content)
    {
        const QList<uint> characters = content.toUcs4();
        for (const uint c : characters) {
            if (covered(c))
                continue;
            ++missingCount;
            if (missingExamples.size() < 5 && !missingExamples.contains(c))
                missingExamples.append(c);
        }
        painter.drawText(rect, flags, content);
    }

    // A paragraph of wrapped text.
    void text(const QString &content, qreal pointSize = kBodySize, bool bold = false,
              const QColor &color = kInk)
    {
        painter.setFont(font(pointSize, bold));
        const QRectF bounds =
            painter.boundingRect(QRectF(0, 0, width, 10000), Qt::TextWordWrap | Qt::AlignLeft, content);
        ensure(bounds.height());
        painter.setPen(color);
        draw(QRectF(0, y, width, bounds.height()), Qt::TextWordWrap | Qt::AlignLeft, content);
        y += bounds.height() + 2;
    }

    void heading(const QString &content)
    {
        ensure(60); // never a heading alone at the bottom of a page
        y += 10;
        text(content, 12, true);
        painter.setPen(QPen(kRule, 0.8));
        painter.drawLine(QPointF(0, y), QPointF(width, y));
        y += 6;
    }

    void gap(qreal points) { y += points; }

    // A table: the header row repeats on every page it spans; cells are elided to fit.
    void table(const QStringList &headers, const QList<qreal> &weights, const QList<QStringList> &rows,
               const QList<int> &rightAligned = {})
    {
        qreal total = 0;
        for (const qreal w : weights)
            total += w;
        QList<qreal> widths;
        for (const qreal w : weights)
            widths.append(width * w / total);
        const QFont body = font(kSmallSize);
        const QFont bold = font(kSmallSize, true);
        const qreal rowHeight = QFontMetricsF(body, &writer).height() * 1.45;

        const auto drawRow = [&](const QStringList &cells, bool header) {
            if (header) {
                painter.fillRect(QRectF(0, y, width, rowHeight), kHeaderFill);
            }
            painter.setFont(header ? bold : body);
            painter.setPen(kInk);
            const QFontMetricsF metrics(header ? bold : body, &writer);
            qreal x = 0;
            for (qsizetype c = 0; c < widths.size(); ++c) {
                const qreal cellWidth = widths.at(c);
                const QString cell = metrics.elidedText(cells.value(c), Qt::ElideRight, cellWidth - 6);
                const Qt::Alignment align =
                    Qt::AlignVCenter | (rightAligned.contains(int(c)) ? Qt::AlignRight : Qt::AlignLeft);
                draw(QRectF(x + 3, y, cellWidth - 6, rowHeight), int(align), cell);
                x += cellWidth;
            }
            painter.setPen(QPen(kRule, 0.4));
            painter.drawLine(QPointF(0, y + rowHeight), QPointF(width, y + rowHeight));
            y += rowHeight;
        };

        ensure(rowHeight * 2);
        drawRow(headers, true);
        for (const QStringList &row : rows) {
            if (y + rowHeight > bottom) {
                newPage();
                drawRow(headers, true);
            }
            drawRow(row, false);
        }
        y += 4;
    }

    // Horizontal bars, one per state, scaled to the largest.
    void histogram(const QList<ReportPdfData::StateBar> &bars)
    {
        if (bars.isEmpty())
            return;
        const QFont label = font(kBodySize);
        const QFontMetricsF metrics(label, &writer);
        const qreal barHeight = metrics.height() * 1.3;
        const qreal labelWidth = 150;
        const qreal countWidth = 70;
        const qreal barSpace = width - labelWidth - countWidth;
        qint64 largest = 1;
        for (const auto &bar : bars)
            largest = qMax(largest, bar.count);
        ensure(barHeight * bars.size() + 8);
        painter.setFont(label);
        for (const auto &bar : bars) {
            painter.setPen(kInk);
            draw(QRectF(0, y, labelWidth - 6, barHeight), Qt::AlignVCenter | Qt::AlignRight,
                 metrics.elidedText(bar.label, Qt::ElideRight, labelWidth - 6));
            const qreal length =
                qMax<qreal>(bar.count > 0 ? 1 : 0, barSpace * qreal(bar.count) / qreal(largest));
            painter.fillRect(QRectF(labelWidth, y + barHeight * 0.15, length, barHeight * 0.7),
                             bar.undetermined ? kUndeterminedBar : kDecidedBar);
            draw(QRectF(labelWidth + length + 4, y, countWidth, barHeight), Qt::AlignVCenter,
                 number(bar.count));
            y += barHeight;
        }
        painter.setPen(QPen(kRule, 0.6));
        painter.drawLine(QPointF(labelWidth, y - barHeight * bars.size()), QPointF(labelWidth, y));
        y += 8;
    }

private:
    QFontMetricsF metrics{font(kBodySize)};
    QHash<uint, bool> coverage; // by character beyond ASCII: whether any font has it

    bool covered(uint c)
    {
        if (c < 0x80 || QChar::isSpace(c) || QChar::category(c) == QChar::Other_Format)
            return true;
        auto known = coverage.constFind(c);
        if (known == coverage.cend())
            known = coverage.insert(c, metrics.inFontUcs4(c));
        return *known;
    }

    void drawFooter()
    {
        painter.setFont(font(kSmallSize));
        painter.setPen(kMuted);
        const QRectF line(0, writer.height() - 14, width, 14);
        draw(line, Qt::AlignLeft | Qt::AlignVCenter, footerText);
        draw(line, Qt::AlignRight | Qt::AlignVCenter, ReportPdfPainter::tr("Page %1").arg(page));
    }
};

} // namespace

QString ReportPdfPainter::cjkFamily()
{
    static const QString family = findCjkFamily();
    return family;
}

QFont ReportPdfPainter::font(qreal pointSize, bool bold)
{
    QStringList families{latinFamily()};
    const QString cjk = cjkFamily();
    if (!cjk.isEmpty())
        families << cjk;
    QFont f;
    f.setFamilies(families);
    f.setStyleHint(QFont::SansSerif);
    f.setPointSizeF(pointSize);
    f.setBold(bold);
    return f;
}

int ReportPdfPainter::paint(const ReportPdfData &data, QIODevice *device, QString *error, QString *warning)
{
    if (warning)
        warning->clear();
    QPdfWriter writer(device);
    writer.setResolution(kResolution);
    writer.setPageSize(QPageSize(QPageSize::A4));
    writer.setPageMargins(QMarginsF(15, 15, 15, 12), QPageLayout::Millimeter);
    writer.setTitle(tr("Write-off audit report"));
    writer.setCreator(QStringLiteral("ticketsync"));
    QPainter painter;
    if (!painter.begin(&writer)) {
        *error = tr("Cannot start painting the PDF report.");
        return 0;
    }
    painter.setRenderHint(QPainter::Antialiasing);
    PageCursor page(writer, painter,
                    tr("ticketsync write-off audit report, generated %1").arg(utcText(data.generatedAtMs)));

    page.text(tr("Write-off audit report"), 18, true);
    page.gap(4);
    page.text(tr("Period (decision time): %1").arg(data.period));
    page.text(tr("Filters: %1").arg(data.filters));
    page.text(tr("Generated by %1 at %2").arg(data.generatedBy, utcText(data.generatedAtMs)));
    page.text(tr("Source: history cache %1").arg(data.source), kSmallSize, false, kMuted);

    page.heading(tr("Summary"));
    page.text(tr("Decisions: %1 (DECIDED %2, UNDETERMINED %3)")
                  .arg(number(data.decisions), number(data.decided), number(data.undetermined)),
              kBodySize, true);
    page.text(tr("Alerts: %1 raised, %2 not yet acknowledged")
                  .arg(number(data.alertsTotal), number(data.alertsOpen)));
    page.gap(4);
    if (data.byState.isEmpty()) {
        page.text(tr("No decisions in this period."), kBodySize, false, kMuted);
    } else {
        page.text(tr("Decisions by state"), kBodySize, true);
        page.histogram(data.byState);
        QList<QStringList> rows;
        for (const auto &bar : data.byState) {
            const QString share = data.decisions > 0
                                      ? QStringLiteral("%1 %").arg(
                                            100.0 * double(bar.count) / double(data.decisions), 0, 'f', 1)
                                      : QString();
            rows.append({bar.undetermined ? QStringLiteral("UNDETERMINED") : QStringLiteral("DECIDED"),
                         bar.undetermined ? QStringLiteral("—") : bar.label, number(bar.count), share});
        }
        page.table({tr("Outcome"), tr("State"), tr("Decisions"), tr("Share")}, {1, 1.4, 0.8, 0.6}, rows,
                   {2, 3});
    }

    page.heading(tr("Chain verification"));
    page.text(data.verificationNote);
    if (data.verified) {
        page.text(tr("Certificates verified: %1; failed: %2; decisions without a cached certificate: %3")
                      .arg(number(data.certificatesVerified), number(data.certificatesFailed),
                           number(data.withoutCertificate)),
                  kBodySize, true, data.certificatesFailed > 0 ? QColor(0xb7, 0x1c, 0x1c) : kInk);
        for (const QString &failure : data.failures)
            page.text(QStringLiteral("• ") + failure, kSmallSize);
        if (data.failuresMore > 0)
            page.text(tr("… and %1 more failures").arg(number(data.failuresMore)), kSmallSize);
    }
    if (data.blocks.isEmpty()) {
        page.text(tr("No blocks cached."), kBodySize, false, kMuted);
    } else {
        QList<QStringList> rows;
        for (const auto &block : data.blocks)
            rows.append({block.node, number(block.blocks),
                         QStringLiteral("%1 – %2").arg(number(block.lowest), number(block.highest)),
                         utcCell(block.lastTimestampMs)});
        page.table({tr("Node"), tr("Blocks cached"), tr("Heights"), tr("Last block at (UTC)")},
                   {1.4, 0.8, 1.2, 1.4}, rows, {1});
    }

    page.heading(tr("Receivers' sync state"));
    if (data.receivers.isEmpty()) {
        page.text(tr("No receiver state cached."), kBodySize, false, kMuted);
    } else {
        QList<QStringList> rows;
        for (const auto &r : data.receivers)
            rows.append({r.receiver, r.node, r.status, number(r.ackedHeight), number(r.headHeight),
                         number(r.lagBlocks), duration(r.lagMs), utcCell(r.asOfMs), r.lastError});
        page.table({tr("Receiver"), tr("Node"), tr("Status"), tr("Acked"), tr("Head"), tr("Lag"),
                    tr("Lag time"), tr("As of (UTC)"), tr("Last error")},
                   {0.9, 0.9, 0.85, 0.55, 0.5, 0.45, 0.75, 1.45, 1.3}, rows, {3, 4, 5, 6});
    }

    page.heading(tr("Undetermined write-offs"));
    if (data.undeterminedRows.isEmpty()) {
        page.text(tr("None in this period."), kBodySize, false, kMuted);
    } else {
        QList<QStringList> rows;
        for (const auto &u : data.undeterminedRows)
            rows.append({u.ticket, number(u.version), utcCell(u.decidedAtMs),
                         QStringLiteral("%1 / %2").arg(number(u.count), number(u.n)), number(u.q),
                         number(u.missing)});
        page.table({tr("Ticket"), tr("Version"), tr("Declared at (UTC)"), tr("Top votes / n"), tr("q"),
                    tr("Missing votes")},
                   {2.2, 0.6, 1.6, 0.9, 0.4, 0.9}, rows, {1, 3, 4, 5});
        if (data.undeterminedMore > 0)
            page.text(tr("… and %1 more").arg(number(data.undeterminedMore)), kBodySize, true);
    }

    if (page.missingCount > 0) {
        QStringList codes;
        for (const uint c : std::as_const(page.missingExamples))
            codes << QStringLiteral("U+%1").arg(c, 4, 16, QLatin1Char('0')).toUpper();
        qCWarning(lcReportPdf).noquote()
            << QStringLiteral(
                   "PDF report: %1 characters have no glyph in any installed font (such as %2) and "
                   "show as empty boxes; install fonts-wqy-microhei")
                   .arg(page.missingCount)
                   .arg(codes.join(QStringLiteral(", ")));
        // Said in the report too, in English when its own translation cannot be drawn either.
        const auto readable = [&page](const char *source) {
            const QString translated = tr(source);
            return page.covers(translated) ? translated : QString::fromUtf8(source);
        };
        static const char *const heading = QT_TR_NOOP("Missing glyphs");
        //: %1: a count; %2: Unicode code points such as U+6838, U+9500. Shown in the report and
        //: the status bar when no installed font can draw some of the report's text.
        static const char *const missingNote =
            QT_TR_NOOP("%1 characters in this report (such as %2) have no glyph in any installed font and "
                       "show as empty boxes. Install a Chinese font (Debian: fonts-wqy-microhei) and "
                       "export again.");
        page.heading(readable(heading));
        page.text(readable(missingNote).arg(page.missingCount).arg(codes.join(QStringLiteral(", "))),
                  kBodySize, true, QColor(0xb7, 0x1c, 0x1c));
        if (warning)
            *warning = tr(missingNote).arg(page.missingCount).arg(codes.join(QStringLiteral(", ")));
    }

    page.finish();
    if (!painter.end()) {
        *error = tr("Cannot finish the PDF report.");
        return 0;
    }
    return page.page;
}

} // namespace ticketsync
