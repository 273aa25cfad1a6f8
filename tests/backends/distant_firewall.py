#!/usr/bin/env python3
"""A firewall some hops away: answers each SYN to a port with an ICMP error
DELAY_MS later, as a router's or a remote host's reject rule does. On a real
network that answer reaches the connecting socket long after connect()
returned, in no process of the connecting host's; a reject rule on the
other end of a veth answers within the connect() call itself.

Run it inside the network namespace whose own firewall drops those SYNs (so
its kernel sends no RST): it sees them on LINK, before that firewall does.
Prints "ready" once it listens; exits 0 on SIGTERM / SIGINT.

Usage: distant_firewall.py LINK DELAY_MS PORT=ANSWER...
  ANSWER: port-unreachable or admin-prohibited (ICMP and ICMPv6 alike)
"""

import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
PACKET_HOST = 0
TCP_SYN = 0x02
TCP_ACK = 0x10

# (type, code) of each answer: ICMP destination unreachable, ICMPv6 the same.
ICMP4 = {"port-unreachable": (3, 3), "admin-prohibited": (3, 13)}
ICMP6 = {"port-unreachable": (1, 4), "admin-prohibited": (1, 1)}


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def syn_of(proto, packet):
    """(source address, destination port, what the ICMP error quotes), or None."""
    if proto == ETH_P_IP and len(packet) >= 20 and packet[9] == socket.IPPROTO_TCP:
        header = (packet[0] & 0x0F) * 4
        source = socket.inet_ntop(socket.AF_INET, packet[12:16])
    elif proto == ETH_P_IPV6 and len(packet) >= 40 and packet[6] == socket.IPPROTO_TCP:
        header = 40
        source = socket.inet_ntop(socket.AF_INET6, packet[8:24])
    else:
        return None
    tcp = packet[header:header + 14]
    if len(tcp) < 14 or tcp[13] & (TCP_SYN | TCP_ACK) != TCP_SYN:
        return None
    port = struct.unpack("!H", tcp[2:4])[0]
    # The quote: the IP header and the TCP header's first 8 bytes (ports and
    # sequence number), which is what the kernel matches the error on.
    return source, port, packet[:header + 8]


def main():
    link, delay_ms = sys.argv[1], int(sys.argv[2])
    answers = dict((int(p), a) for p, a in (arg.split("=", 1) for arg in sys.argv[3:]))
    for answer in answers.values():
        if answer not in ICMP4:
            sys.exit("unknown answer: " + answer)
    sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    sniffer.bind((link, ETH_P_ALL))
    icmp4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    icmp6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    print("ready", flush=True)
    while True:
        packet, (_, proto, pkttype, _, _) = sniffer.recvfrom(65536)
        syn = syn_of(proto, packet) if pkttype == PACKET_HOST else None
        if not syn or syn[1] not in answers:
            continue
        source, port, quote = syn
        time.sleep(delay_ms / 1000)
        if proto == ETH_P_IP:
            kind, code = ICMP4[answers[port]]
            message = struct.pack("!BBHI", kind, code, 0, 0) + quote
            message = message[:2] + struct.pack("!H", checksum(message)) + message[4:]
            icmp4.sendto(message, (source, 0))
        else:
            kind, code = ICMP6[answers[port]]
            # (The kernel fills in an ICMPv6 checksum itself.)
            icmp6.sendto(struct.pack("!BBHI", kind, code, 0, 0) + quote, (source, 0))


if __name__ == "__main__":
    main()
