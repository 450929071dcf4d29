/* portfilter.h: the default filter's verdict decided in C, for capture_next's fast path.
 * When the user gives no BPF expression, app.c installs "tcp and (port P1 or port P2 ...)"
 * (or "tcp" alone for -p auto); interpreting that BPF costs ~200 instructions a frame. This
 * pure function answers what libpcap's code for those expressions answers, for the frames it
 * can prove it for, and says "not sure" for everything else, so the caller runs the BPF. */
#ifndef EE_PORTFILTER_H
#define EE_PORTFILTER_H

#include <stdint.h>

/* The verdict of the default filter compiled for link type dlt (a DLT_* value) with these
 * ports (nports 0 = "tcp" alone) on a frame of caplen captured bytes: 1 when the BPF would
 * accept it, 0 when it would reject it, -1 when this function does not decide (other link
 * types or network protocols, VLAN tags, IPv4 headers under 20 bytes, IPv6
 * extension headers, ports past caplen ...): run the BPF then. For DLT_NULL the answer is
 * the one for a file written in this host's byte order (libpcap compiles the address
 * family swapped for a swapped file: the caller must not ask then). Tested against
 * pcap_offline_filter by test_portfilter and fuzz_portfilter. */
int capture_port_verdict(int dlt, const uint8_t *frame, uint32_t caplen, const uint16_t *ports,
			 int nports);

/* Whether capture_port_verdict can ever decide for link type dlt. */
int capture_port_verdict_dlt(int dlt);

#endif
