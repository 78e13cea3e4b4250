// Package service adds three optional layers on an rpcudp.Endpoint, as
// classic RPC servers have them: claims (one client at a time controls a
// device, as USRP's MPM), namespaces and versions (oslo.messaging's
// endpoints), and properties and signals (plantimager's), with an
// inventory of all of it. A plain rpcudp or Python peer sees nothing
// new: calls without a namespace or version reach the null namespace
// under their plain names, byte for byte as before.
//
// A Server serves on one rpcudp.Endpoint; a Client calls servers over
// another. The examples below, and examples/device and examples/server,
// show each layer.
//
// # Dispatch
//
// A server holds Groups of methods, each with a namespace ("" is the
// null namespace) and a version (default 1.0). A call is dispatched to
// the first group, in the order added, that has the method, the same
// namespace and a compatible version: the same major, a minor at least
// the one asked for; a call that names no version takes any. Otherwise
// the error reply says why: ErrNoNamespace, ErrIncompatibleVersion or
// ErrNoSuchMethod (all three also match rpcudp.ErrUnknownMethod). Methods of the null namespace are
// also registered on the rpcudp.Endpoint under their plain names. A
// method is any function rpcudp.Endpoint.Handle accepts: the server runs
// it (rpcudp.Adapt) on the call's arguments.
//
// Start makes the server take requests; Stop makes it answer each new
// one with an error reply (ErrStopped; a Python caller, which ignores
// error replies, times out); Wait waits for those still running. Close
// stops it for good: it ends the claim (running the release hook), stops
// its timer and drops every subscriber; nothing the server started runs
// after it. Neither Server.Close nor Client.Close closes the
// rpcudp.Endpoint; Client.Close removes its emission method from it
// (rpcudp.Endpoint.Unhandle).
//
// # Wire forms
//
// Every datagram is rpcudp's (see ../PROTOCOL.md). The methods this
// package adds hold a dot, which no Python rpc_ method name can, so a
// Python server treats them as unknown methods (and stays silent):
//
//	plain call            request  [method, [args...]]                     as today, null namespace
//	namespaced call       request  ["svc.call", [namespace, version, method, [args...]]]
//	                               namespace "" = null; version "M.N", "M" = "M.0", "" = any
//	claim                 request  ["claim", [session, cookie]] -> token (str, 16 characters)
//	                               or, without the cookie (["claim", [session]]) or with a stale one,
//	                               -> [cookie] (nothing claimed: ask again with it)
//	reclaim               request  ["reclaim", [token]]       -> true
//	unclaim               request  ["unclaim", [token]]       -> nil
//	claimed method        request  [method, [token, args...]] (the handler sees args)
//	inventory             request  ["svc.inventory", []]      -> map (see below)
//	property get          request  ["svc.get", [name]]        -> value
//	property set          request  ["svc.set", [name, value]] or [name, value, token] -> nil
//	subscribe or renew    request  ["svc.subscribe", [signal, lease_ms, sink, sub_id, cookie]]
//	                               -> [lease_ms granted, emissions so far, epoch]
//	                               or, without the cookie or with a stale one,
//	                               -> [0, 0, 0, cookie] (nothing subscribed: ask again with it)
//	unsubscribe           request or notification ["svc.unsubscribe", [signal, sub_id]]
//	emission              notification (0x03), server to subscriber:
//	                               [sink, [sub_id, signal, seq, [args...]]]
//
// claim, reclaim and unclaim are plain names (a Python client may claim
// a Go device, sending the cookie back). The inventory is a map:
//
//	methods           [{name, namespace, version, doc, timeout_ms, claimed}...]  in dispatch order
//	signals           [{name, doc, subscribers}...]                           by name
//	properties        [{name, doc, changed, settable, claimed}...]            by name
//	claim_timeout_ms  0 on a server with nothing to claim
//
// Error replies carry the sentinel's text at the start of their message
// ("service: incompatible version: ..."), and quote at most 32 bytes of
// a string the caller chose. Their error code stands for the sentinel
// (registered on the endpoint by New and NewClient, see
// rpcudp.Endpoint.RegisterError), so that a Client's errors match it
// (errors.Is) as well as *rpcudp.RemoteError:
//
//	200 ErrNoNamespace   201 ErrIncompatibleVersion  202 ErrNoSuchMethod   203 ErrClaimed
//	204 ErrBadToken      205 ErrStopped              206 ErrNoSuchSignal   207 ErrNoSuchProperty
//	208 ErrReadOnly      209 ErrTooManySubscribers
//
// # Claims
//
// claim(session, cookie) returns a random 16-character token, or fails
// with ErrClaimed while another claim holds. The cookie (16 characters)
// is what the server answers, as [cookie], to a claim without it or with
// a stale one: a MAC of the caller's IP address, good for 5 to 10
// minutes, so that a claim forged with another's address claims nothing
// (an older server, which asks no cookie, grants claim(session) at once;
// Client.Claim handles both). The holder must reclaim within
// the claim timeout (default 5 s; see WithClaims), or the claim lapses
// and the release hook runs; unclaim ends it too.
// Methods marked Claimed take the token as their first argument and fail
// with ErrBadToken without the current one. Client.Claim reclaims in the
// background and closes Claim.Lost when a reclaim is refused or none is
// acknowledged for the claim timeout.
//
// # Signals and properties
//
// A subscription is soft state. The first subscribe is answered with a
// cookie (a MAC of the subscriber's address, port and id, good for 5 to
// 10 minutes) that the subscriber sends back: a server sends emissions
// only to an address that has shown it receives there, so a subscribe
// from a spoofed address does not make it a reflector. Each signal holds
// at most 1024 subscribers, 32 of them from one network (an IPv4 /24, an
// IPv6 /48) and 8 at one address of it, so that a host with many
// addresses cannot take them all; a loopback address holds 32 of its own
// (ErrTooManySubscribers). The client asks for a lease (clamped to
// [1 s, 10 min]) and renews it every third of the lease granted;
// the server drops a subscriber whose lease lapsed, or whose address
// refused three emissions in a row (a send error; UDP rarely reports
// one, so the lease is what counts). Each emission is one notification
// to each subscriber, numbered per signal; the client hands them on in
// order, once each, and counts those lost (Emission.Missed). A renewal
// tells the client how many emissions the server has made, so a lost
// last one is noticed. A subscription none of whose renewals has been
// acknowledged for the lease granted (the server stopped, closed or out
// of reach), or whose signal the server no longer has, ends: its channel
// closes and Subscription.Err says why (ErrLost). A Property has get and set and may name a change
// signal, emitted with the new value on every Set; a Proxy follows it
// and re-reads the value when a renewal shows it missed the last change.
package service
