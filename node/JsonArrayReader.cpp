#include "JsonArrayReader.h"

#include <QIODevice>
#include <QStringDecoder>

namespace ticketsync {

namespace {

constexpr qint64 kChunkBytes = 64 * 1024;
constexpr qsizetype kMaxNumberBytes = 64;

bool isDigit(int c)
{
    return c >= '0' && c <= '9';
}

int hexValue(int c)
{
    if (isDigit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void appendUtf8(QByteArray *out, char32_t code)
{
    if (code < 0x80) {
        out->append(char(code));
    } else if (code < 0x800) {
        out->append(char(0xC0 | (code >> 6)));
        out->append(char(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
        out->append(char(0xE0 | (code >> 12)));
        out->append(char(0x80 | ((code >> 6) & 0x3F)));
        out->append(char(0x80 | (code & 0x3F)));
    } else {
        out->append(char(0xF0 | (code >> 18)));
        out->append(char(0x80 | ((code >> 12) & 0x3F)));
        out->append(char(0x80 | ((code >> 6) & 0x3F)));
        out->append(char(0x80 | (code & 0x3F)));
    }
}

QString describe(int c)
{
    if (c < 0)
        return QStringLiteral("the end of the input");
    if (c >= 0x20 && c < 0x7F)
        return QStringLiteral("'%1'").arg(QChar(c));
    return QStringLiteral("byte 0x%1").arg(c, 2, 16, QLatin1Char('0'));
}

} // namespace

JsonArrayReader::JsonArrayReader(QIODevice *device) : device(device) {}

int JsonArrayReader::peek()
{
    if (position >= buffer.size()) {
        consumed += buffer.size();
        buffer = device->read(kChunkBytes);
        position = 0;
        if (buffer.isEmpty())
            return -1;
    }
    return static_cast<unsigned char>(buffer.at(position));
}

int JsonArrayReader::get()
{
    const int c = peek();
    if (c >= 0)
        ++position;
    return c;
}

void JsonArrayReader::skipWhitespace()
{
    // The only place a line break is read: inside a string it is refused, and JSON has no other.
    for (int c = peek(); c == ' ' || c == '\t' || c == '\n' || c == '\r'; c = peek()) {
        if (c == '\n')
            ++line;
        ++position;
    }
}

bool JsonArrayReader::fail(const QString &message, QString *error) const
{
    return failAt(consumed + position, message, error);
}

bool JsonArrayReader::failAt(qint64 offset, const QString &message, QString *error) const
{
    if (error)
        *error = QStringLiteral("not valid JSON at offset %1: %2").arg(offset).arg(message);
    return false;
}

bool JsonArrayReader::start(QString *error)
{
    if (peek() == 0xEF) { // a UTF-8 byte order mark, as some editors write one
        ++position;
        if (get() != 0xBB || get() != 0xBF)
            return fail(QStringLiteral("a broken byte order mark"), error);
    }
    skipWhitespace();
    const int c = peek();
    if (c == '[') {
        ++position;
        return true;
    }
    if (c < 0)
        return fail(QStringLiteral("the input is empty"), error);
    if (c == '{' || c == '"' || c == '-' || isDigit(c) || c == 't' || c == 'f' || c == 'n') {
        if (error)
            *error = QStringLiteral("not a JSON array: it starts with %1").arg(describe(c));
        return false;
    }
    return fail(QStringLiteral("unexpected %1").arg(describe(c)), error);
}

bool JsonArrayReader::next(Object *object, QString *error)
{
    if (ended || failed)
        return false;
    failed = true; // until this element is read whole
    skipWhitespace();
    if (elements > 0) {
        const int c = peek();
        if (c != ',' && c != ']')
            return fail(QStringLiteral("expected ',' or ']' after element [%1], found %2")
                            .arg(elements - 1)
                            .arg(describe(c)),
                        error);
        ++position;
        ended = c == ']';
        skipWhitespace();
        if (!ended && peek() == ']')
            return fail(QStringLiteral("a ',' with no element after it"), error);
    } else if (peek() == ']') {
        ++position;
        ended = true;
    }
    if (ended) {
        skipWhitespace();
        if (const int c = peek(); c >= 0)
            return fail(QStringLiteral("%1 after the end of the array").arg(describe(c)), error);
        failed = false;
        return false;
    }
    if (const int c = peek(); c != '{') {
        if (c != '[' && c != '"' && c != '-' && !isDigit(c) && c != 't' && c != 'f' && c != 'n')
            return fail(QStringLiteral("expected an element, found %1").arg(describe(c)), error);
        if (error)
            *error = QStringLiteral("[%1]: not a JSON object").arg(elements);
        return false;
    }
    ++position;
    object->clear();
    skipWhitespace();
    if (peek() == '}') {
        ++position;
    } else {
        for (;;) {
            skipWhitespace();
            if (peek() != '"')
                return fail(QStringLiteral("expected a key in element [%1], found %2")
                                .arg(elements)
                                .arg(describe(peek())),
                            error);
            QString key;
            if (!readString(&key, error))
                return false;
            // Keeping the last, as QHash would, is a guess at which one the writer meant; worded
            // as StrictJson::repeatedKey() is for the node configuration and the membership.
            if (object->contains(key)) {
                if (error)
                    *error = QStringLiteral("[%1]: '%2': given twice (again on line %3)")
                                 .arg(elements)
                                 .arg(key)
                                 .arg(line);
                return false;
            }
            skipWhitespace();
            if (const int c = peek(); c != ':')
                return fail(QStringLiteral("expected ':' after a key, found %1").arg(describe(c)), error);
            ++position;
            Value value;
            if (!readValue(&value, error))
                return false;
            object->insert(key, value);
            if (object->size() > kMaxKeys)
                return fail(QStringLiteral("element [%1] has more than %2 keys").arg(elements).arg(kMaxKeys),
                            error);
            skipWhitespace();
            const int c = peek();
            if (c != ',' && c != '}')
                return fail(QStringLiteral("expected ',' or '}' in element [%1], found %2")
                                .arg(elements)
                                .arg(describe(c)),
                            error);
            ++position;
            if (c == '}')
                break;
        }
    }
    ++elements;
    failed = false;
    return true;
}

bool JsonArrayReader::readString(QString *text, QString *error)
{
    QByteArray bytes;
    QByteArray *utf8 = &bytes;
    ++position; // the opening quote, which the caller has seen
    for (;;) {
        const int c = get();
        if (c < 0)
            return fail(QStringLiteral("a string is not closed"), error);
        if (c == '"')
            break;
        if (c < 0x20) // where it is, not after it
            return failAt(consumed + position - 1,
                          QStringLiteral("a control character (%1) inside a string").arg(describe(c)), error);
        if (c != '\\') {
            utf8->append(char(c));
        } else {
            const int escaped = get();
            switch (escaped) {
            case '"':
            case '\\':
            case '/':
                utf8->append(char(escaped));
                break;
            case 'b':
                utf8->append('\b');
                break;
            case 'f':
                utf8->append('\f');
                break;
            case 'n':
                utf8->append('\n');
                break;
            case 'r':
                utf8->append('\r');
                break;
            case 't':
                utf8->append('\t');
                break;
            case 'u': {
                auto readUnit = [this](char32_t *unit) {
                    *unit = 0;
                    for (int i = 0; i < 4; ++i) {
                        const int digit = hexValue(get());
                        if (digit < 0)
                            return false;
                        *unit = (*unit << 4) | char32_t(digit);
                    }
                    return true;
                };
                char32_t code = 0;
                if (!readUnit(&code))
                    return fail(QStringLiteral("\\u must be followed by four hex digits"), error);
                if (code >= 0xDC00 && code <= 0xDFFF)
                    return fail(QStringLiteral("a lone low surrogate \\u%1").arg(uint(code), 4, 16), error);
                if (code >= 0xD800 && code <= 0xDBFF) {
                    char32_t low = 0;
                    if (get() != '\\' || get() != 'u' || !readUnit(&low) || low < 0xDC00 || low > 0xDFFF)
                        return fail(QStringLiteral("a high surrogate \\u%1 without its low half")
                                        .arg(uint(code), 4, 16),
                                    error);
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                }
                appendUtf8(utf8, code);
                break;
            }
            default:
                return fail(QStringLiteral("an unknown escape \\%1").arg(describe(escaped)), error);
            }
        }
        if (utf8->size() > kMaxStringBytes)
            return fail(QStringLiteral("a string longer than %1 bytes").arg(kMaxStringBytes), error);
    }
    QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
    *text = decoder(bytes);
    if (decoder.hasError())
        return fail(QStringLiteral("a string that is not valid UTF-8"), error);
    return true;
}

bool JsonArrayReader::readNumber(QByteArray *literal, QString *error)
{
    // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    literal->clear();
    auto take = [&] {
        literal->append(char(get()));
    };
    auto digits = [&] {
        if (!isDigit(peek()))
            return false;
        while (isDigit(peek()) && literal->size() <= kMaxNumberBytes)
            take();
        return true;
    };
    if (peek() == '-')
        take();
    if (peek() == '0')
        take();
    else if (!digits())
        return fail(QStringLiteral("a number without digits"), error);
    if (peek() == '.') {
        take();
        if (!digits())
            return fail(QStringLiteral("a number with no digits after its point"), error);
    }
    if (peek() == 'e' || peek() == 'E') {
        take();
        if (peek() == '+' || peek() == '-')
            take();
        if (!digits())
            return fail(QStringLiteral("a number with no digits in its exponent"), error);
    }
    if (literal->size() > kMaxNumberBytes)
        return fail(QStringLiteral("a number longer than %1 characters").arg(kMaxNumberBytes), error);
    return true;
}

bool JsonArrayReader::readWord(const char *word, QString *error)
{
    for (const char *c = word; *c; ++c) {
        if (get() != static_cast<unsigned char>(*c))
            return fail(QStringLiteral("expected '%1'").arg(QLatin1StringView(word)), error);
    }
    return true;
}

bool JsonArrayReader::readValue(Value *value, QString *error)
{
    skipWhitespace();
    const int c = peek();
    if (c == '"') {
        *value = {Value::Type::String, QString()};
        return readString(&value->text, error);
    }
    if (c == '-' || isDigit(c)) {
        QByteArray literal;
        if (!readNumber(&literal, error))
            return false;
        *value = {Value::Type::Number, QString::fromLatin1(literal)};
        return true;
    }
    if (c == 't' || c == 'f') {
        const char *word = c == 't' ? "true" : "false";
        *value = {Value::Type::Boolean, QString::fromLatin1(word)};
        return readWord(word, error);
    }
    if (c == 'n') {
        *value = {Value::Type::Null, QString()};
        return readWord("null", error);
    }
    if (c == '{' || c == '[') {
        *value = {Value::Type::Nested, QString()};
        return skipNested(error);
    }
    return fail(QStringLiteral("expected a value, found %1").arg(describe(c)), error);
}

bool JsonArrayReader::skipNested(QString *error)
{
    // Checked as strictly as the rest, without recursion: the closing brackets still expected,
    // innermost last.
    enum class Expect
    {
        Value,
        Key,
        CommaOrClose
    };
    QByteArray closers;
    Expect expect = Expect::Value;
    for (;;) {
        skipWhitespace();
        switch (expect) {
        case Expect::Value: {
            const int c = peek();
            if (c != '{' && c != '[') {
                Value scalar;
                if (!readValue(&scalar, error))
                    return false;
                expect = Expect::CommaOrClose;
                break;
            }
            if (closers.size() >= kMaxDepth)
                return fail(QStringLiteral("values nested more than %1 deep").arg(kMaxDepth), error);
            ++position;
            const char closer = c == '{' ? '}' : ']';
            closers.append(closer);
            skipWhitespace();
            if (peek() == closer) {
                ++position;
                closers.chop(1);
                expect = Expect::CommaOrClose;
            } else {
                expect = c == '{' ? Expect::Key : Expect::Value;
            }
            break;
        }
        case Expect::Key: {
            if (const int c = peek(); c != '"')
                return fail(QStringLiteral("expected a key, found %1").arg(describe(c)), error);
            QString key;
            if (!readString(&key, error))
                return false;
            skipWhitespace();
            if (const int colon = peek(); colon != ':')
                return fail(QStringLiteral("expected ':' after a key, found %1").arg(describe(colon)), error);
            ++position;
            expect = Expect::Value;
            break;
        }
        case Expect::CommaOrClose: {
            if (closers.isEmpty())
                return true;
            const int c = peek();
            if (c != ',' && c != closers.back())
                return fail(QStringLiteral("expected ',' or '%1', found %2")
                                .arg(QLatin1Char(closers.back()))
                                .arg(describe(c)),
                            error);
            ++position;
            if (c == ',')
                expect = closers.back() == '}' ? Expect::Key : Expect::Value;
            else
                closers.chop(1);
            break;
        }
        }
    }
}

} // namespace ticketsync
