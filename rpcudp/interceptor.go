package rpcudp

import (
	"context"
	"log/slog"
	"time"
)

// LogRequests returns an interceptor that logs every request at debug
// level with its duration and outcome.
func LogRequests(l *slog.Logger) Interceptor {
	return func(ctx context.Context, req *Request, next HandlerFunc) (any, error) {
		start := time.Now()
		res, err := next(ctx, req)
		l.LogAttrs(ctx, slog.LevelDebug, "rpcudp: request",
			slog.String("method", req.Method), slog.String("from", req.From.String()),
			slog.Duration("took", time.Since(start)), slog.Any("err", err))
		return res, err
	}
}
