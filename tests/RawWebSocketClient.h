// A client's WebSocket spoken by hand (RFC 6455), for the tests that need what QWebSocket hides:
// reading only as much as they choose (what the node sends then waits in the kernels' buffers),
// many frames in one write, and pings of their own.
#pragma once

#include "TlsIdentity.h"

#include <QByteArray>
#include <QList>
#include <QSslSocket>
#include <QString>

namespace ticketsync {

class RawWebSocketClient
{
public:
    QSslSocket socket;
    int pings = 0;        // the node's pings read (each is answered)
    qint64 bytesRead = 0; // by readSome

    // TLS with the client identity given, then the upgrade, read no further than its end. The
    // server's certificate must name peerName (the host when empty).
    bool open(const TlsIdentity &identity, const QString &host, quint16 port, const QString &peerName,
              int waitMs, QString *error)
    {
        socket.setSslConfiguration(identity.clientConfiguration());
        socket.connectToHostEncrypted(host, port, peerName.isEmpty() ? host : peerName);
        if (!socket.waitForEncrypted(waitMs)) {
            *error = socket.errorString();
            return false;
        }
        socket.write("GET / HTTP/1.1\r\nHost: " + host.toLatin1() + ':' + QByteArray::number(port) +
                     "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        QByteArray response;
        while (!response.contains("\r\n\r\n")) {
            if (!socket.bytesAvailable() && !socket.waitForReadyRead(waitMs))
                break;
            response += socket.read(1);
        }
        if (!response.startsWith("HTTP/1.1 101")) {
            *error = QStringLiteral("no WebSocket upgrade: ") + QString::fromLatin1(response);
            return false;
        }
        return true;
    }

    // One final, masked frame, as a client must send it.
    static QByteArray maskedFrame(quint8 opcode, const QByteArray &payload)
    {
        QByteArray frame;
        frame.append(char(0x80 | opcode));
        const qsizetype size = payload.size();
        if (size < 126) {
            frame.append(char(0x80 | size));
        } else if (size <= 0xffff) {
            frame.append(char(0x80 | 126));
            frame.append(char(size >> 8)).append(char(size & 0xff));
        } else {
            frame.append(char(0x80 | 127));
            for (int shift = 56; shift >= 0; shift -= 8)
                frame.append(char((quint64(size) >> shift) & 0xff));
        }
        const char mask[4] = {0x12, 0x34, 0x56, 0x78};
        frame.append(mask, 4);
        for (qsizetype i = 0; i < size; ++i)
            frame.append(char(payload.at(i) ^ mask[i % 4]));
        return frame;
    }

    static QByteArray textFrame(const QByteArray &json) { return maskedFrame(0x1, json); }

    void send(quint8 opcode, const QByteArray &payload) { socket.write(maskedFrame(opcode, payload)); }

    // Reads at most maxBytes, answers every ping among them, and returns the text messages they
    // complete.
    QList<QByteArray> readSome(qint64 maxBytes)
    {
        const QByteArray bytes = socket.read(maxBytes);
        bytesRead += bytes.size();
        buffer += bytes;
        QList<QByteArray> messages;
        for (;;) {
            if (buffer.size() < 2)
                return messages;
            const auto first = quint8(buffer.at(0));
            qint64 length = quint8(buffer.at(1)) & 0x7f;
            qsizetype head = 2;
            if (length >= 126) {
                head = length == 126 ? 4 : 10;
                if (buffer.size() < head)
                    return messages;
                length = 0;
                for (qsizetype i = 2; i < head; ++i)
                    length = (length << 8) | quint8(buffer.at(i));
            }
            if (buffer.size() < head + length)
                return messages;
            const QByteArray payload = buffer.mid(head, length);
            buffer.remove(0, head + length);
            const int opcode = first & 0x0f;
            if (opcode == 0x9) {
                ++pings;
                send(0xA, payload);
            } else if (opcode == 0x1 || opcode == 0x0) {
                message += payload;
                if (first & 0x80) {
                    messages.append(message);
                    message.clear();
                }
            }
        }
    }

private:
    QByteArray buffer;  // bytes read that do not make a whole frame yet
    QByteArray message; // a fragmented message's frames so far
};

} // namespace ticketsync
