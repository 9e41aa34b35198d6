package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// ErrBlockedAddress: the receiver's address is not a public one, and the
// Dispatcher was told to send only to public addresses (Options.PublicOnly).
var ErrBlockedAddress = errors.New("webhook: the receiver's address is not public")

// publicOnly is a net.Dialer Control function that refuses to connect to
// loopback, private, link-local, multicast and unspecified addresses. It
// checks the address actually dialled, after name resolution, so a name
// that resolves to an internal address later (DNS rebinding) is refused
// too.
func publicOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, host)
	}
	ip = ip.Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() ||
		cgnat.Contains(ip) || ip.Is6() && ula.Contains(ip) {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, ip)
	}
	return nil
}

var (
	cgnat = netip.MustParsePrefix("100.64.0.0/10") // shared address space (carrier-grade NAT, some cloud metadata)
	ula   = netip.MustParsePrefix("fc00::/7")      // IsPrivate covers it; kept explicit for the reader
)
