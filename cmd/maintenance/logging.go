package main

import (
	"context"
	"fmt"
	"log/slog"

	goredis "github.com/redis/go-redis/v9"
)

// redisLogger sends go-redis's own log lines (a failed dial on every retry
// while Redis is down) to slog at debug level: the gate already reports a
// store that cannot be reached, once, as an error.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// useLogger makes logger the destination of the store drivers' logs. Only
// the command wires this; libraries never touch global loggers.
func useLogger(logger *slog.Logger) {
	goredis.SetLogger(redisLogger{logger})
}
