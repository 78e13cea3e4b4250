//go:build !linux || 386

package rpcudp

import "net"

// newSysReceiver has no system-specific reader here: the read loop reads
// through the conn's own methods.
func newSysReceiver(net.PacketConn, func(uint32)) receiver { return nil }

// forceBuffers does not know the sizes granted here.
func forceBuffers(net.PacketConn, int, int) (int, int) { return 0, 0 }
