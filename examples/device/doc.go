// Command device is a small simulated device served with claims,
// properties and signals (package rpcudp/service), in the manner of a USRP's
// MPM RPC server: one client at a time claims it and controls it; anyone may
// read it and watch it.
//
//	device [-listen ADDR] [-claim-timeout D] [-v]
//
// It serves on ADDR (default 127.0.0.1:1235) until interrupted (SIGINT or
// SIGTERM):
//
//	claim(session, cookie) -> token
//	                            claim the device (16-character token); a
//	                            claim without the cookie answers [cookie]
//	reclaim(token) -> true      renew the claim, within -claim-timeout (default 5s)
//	unclaim(token)              release it
//	set_gain(token, gain)       set the gain in dB, 0 to 76 (claimed)
//	get_gain() -> gain          the gain
//	ping() -> "pong"
//	get_last_error() -> str     the last error the device reported ("" if none)
//	get_device_info() -> map    product, serial, version, gain range
//
// The gain is also a property "gain" (svc.get, svc.set with the token),
// whose change signal gain_changed carries each new value to subscribers.
// A claim that is not renewed lapses; the device then logs it. The cookie
// shows that the claim comes from the address it says (a forged one
// claims nothing); it is the caller's IP address's, good for 5 to 10
// minutes. Try it with ./examples/call (a claim made by hand needs a
// longer -claim-timeout):
//
//	go run ./examples/device -claim-timeout 1m &
//	go run ./examples/call 127.0.0.1:1235 claim '"me"'              # -> ["COOKIE"]
//	go run ./examples/call 127.0.0.1:1235 claim '"me"' '"COOKIE"'   # -> "TOKEN"
//	go run ./examples/call -watch gain_changed -for 1m 127.0.0.1:1235 &
//	go run ./examples/call 127.0.0.1:1235 set_gain '"TOKEN"' 30.5
//	go run ./examples/call 127.0.0.1:1235 get_gain
package main
