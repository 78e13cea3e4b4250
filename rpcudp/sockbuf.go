package rpcudp

import "net"

// defaultSocketBuffer is the receive and send buffer size an endpoint asks
// for its UDP socket (WithSocketBuffers). The kernel grants at most its
// limit (on Linux net.core.rmem_max and wmem_max, often 208 KiB to a few
// MiB); Stats reports what it granted.
const defaultSocketBuffer = 4 << 20

// bufferConn is implemented by *net.UDPConn.
type bufferConn interface {
	SetReadBuffer(bytes int) error
	SetWriteBuffer(bytes int) error
}

// sizeBuffers asks for the socket buffers the configuration names (a size
// of 0 leaves that one alone) and returns the sizes granted, as the kernel
// reports them (0 when the conn has no socket).
func sizeBuffers(conn net.PacketConn, rcv, snd int) (gotRcv, gotSnd int) {
	bc, ok := conn.(bufferConn)
	if !ok {
		return 0, 0
	}
	if rcv > 0 {
		bc.SetReadBuffer(rcv)
	}
	if snd > 0 {
		bc.SetWriteBuffer(snd)
	}
	return forceBuffers(conn, rcv, snd)
}
