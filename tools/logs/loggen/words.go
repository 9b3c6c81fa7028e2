package loggen

// words are the constant vocabulary of generated messages: the verbs,
// nouns and qualifiers that log messages are written in.
var words = []string{
	"accepted", "access", "account", "acquired", "action", "active", "adapter", "added", "address", "agent",
	"allocated", "allocation", "application", "applied", "archive", "attempt", "attempting", "audit", "authentication", "available",
	"backend", "backoff", "balancer", "batch", "binding", "block", "boot", "broadcast", "buffer", "build",
	"bundle", "cache", "callback", "cancelled", "capacity", "certificate", "channel", "check", "checkpoint", "child",
	"cleanup", "client", "closed", "closing", "cluster", "collector", "commit", "committed", "completed", "component",
	"config", "configuration", "connected", "connection", "consumer", "container", "context", "controller", "copy", "created",
	"creating", "credentials", "daemon", "data", "database", "deadline", "default", "deferred", "deleted", "delivered",
	"denied", "dependency", "deployment", "detected", "device", "directory", "disabled", "discarded", "disk", "dispatch",
	"domain", "download", "driver", "dropped", "dump", "enabled", "endpoint", "engine", "entry", "environment",
	"error", "event", "evicted", "exception", "executor", "exit", "expired", "export", "failed", "failure",
	"fetch", "file", "filesystem", "finished", "firmware", "flush", "forwarded", "found", "frame", "gateway",
	"granted", "group", "handler", "handshake", "header", "health", "heartbeat", "host", "idle", "image",
	"index", "initialized", "initializing", "input", "install", "instance", "interface", "interrupt", "invalid", "job",
	"journal", "kernel", "key", "lease", "leader", "limit", "link", "listener", "loaded", "loading",
	"local", "lock", "logged", "login", "lookup", "lost", "manager", "mapping", "master", "memory",
	"merge", "message", "metadata", "migration", "missing", "mode", "module", "monitor", "mount", "network",
	"node", "notification", "object", "offset", "opened", "operation", "output", "overflow", "package", "packet",
	"page", "parameter", "parser", "partition", "password", "path", "peer", "pending", "permission", "pipeline",
	"plugin", "policy", "pool", "port", "power", "process", "processing", "profile", "protocol", "provider",
	"proxy", "publish", "queue", "queued", "quota", "reached", "read", "ready", "received", "reconnect",
	"record", "recovered", "refresh", "region", "registered", "registry", "rejected", "release", "reload", "remote",
	"removed", "replica", "reply", "report", "request", "required", "reset", "resolved", "resource", "response",
	"restart", "restored", "result", "retry", "retrying", "returned", "role", "rollback", "route", "rule",
	"running", "scan", "schedule", "scheduled", "schema", "scope", "secret", "segment", "sending", "sensor",
	"sent", "server", "service", "session", "settings", "shard", "shutdown", "signal", "size", "skipped",
	"slot", "snapshot", "socket", "source", "stack", "stage", "started", "starting", "state", "status",
	"step", "stopped", "stopping", "storage", "stream", "subscriber", "succeeded", "successfully", "suspended", "switch",
	"sync", "system", "table", "target", "task", "terminated", "thread", "threshold", "throttled", "ticket",
	"timeout", "timer", "token", "topic", "trace", "transaction", "transfer", "trigger", "unable", "unavailable",
	"unknown", "unreachable", "update", "updated", "upload", "usage", "user", "validated", "validation", "value",
	"verified", "version", "volume", "waiting", "warning", "watch", "worker", "write", "written", "zone",
}

// glue are the small words that join a message's parts.
var glue = []string{"for", "to", "from", "on", "in", "of", "with", "at", "by", "is", "was", "not", "the", "a", "after", "before", "via", "as"}

// digitWords are constants that contain digits, as real messages have
// (protocol versions, device names); they are not variables.
var digitWords = []string{"HTTP/1.1", "ssh2", "IPv4", "IPv6", "utf-8", "x86_64", "s3", "sha256", "v2", "TLSv1.3", "log4j", "e2e"}

// opposites make families of templates that differ in one constant word,
// the kind a miner must not merge.
var opposites = [][2]string{
	{"started", "stopped"}, {"opened", "closed"}, {"enabled", "disabled"}, {"succeeded", "failed"},
	{"added", "removed"}, {"accepted", "rejected"}, {"connected", "disconnected"}, {"acquired", "released"},
	{"starting", "stopping"}, {"up", "down"}, {"created", "deleted"}, {"granted", "denied"},
	{"mounted", "unmounted"}, {"loaded", "unloaded"}, {"locked", "unlocked"}, {"sent", "received"},
	{"read", "write"}, {"begin", "end"}, {"entering", "leaving"}, {"valid", "invalid"},
}

// Word pools: variables without digits, the hardest for a miner.
var (
	userNames  = []string{"root", "admin", "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar", "peggy", "trent", "victor", "walter", "news", "cyrus", "test", "guest", "oracle", "postgres", "nobody", "www", "backup", "ftp", "mysql", "ubuntu", "deploy", "jenkins"}
	serviceNms = []string{"cart", "checkout", "payment", "shipping", "catalog", "search", "frontend", "auth", "billing", "inventory", "email", "recommend", "ads", "currency", "gateway", "profile"}
	stateWords = []string{"true", "false"}
	levelWords = []string{"low", "medium", "high", "critical"}
	hostWords  = []string{"localhost", "gateway", "backend", "primary", "secondary", "storage", "mailhost", "dbmaster", "cachebox", "edge"}
	classNames = []string{"SessionManager", "BlockManager", "TaskScheduler", "HttpClient", "ConnectionPool", "DiskCache", "StreamReader", "AuthFilter", "JobRunner", "MetricsSink", "EventBus", "QueryPlanner", "IndexWriter", "LeaseKeeper"}
	fileNames  = []string{"config.yaml", "settings.json", "index.html", "app.log", "server.key", "main.js", "style.css", "README.md", "data.csv", "cert.pem", "hosts", "passwd", "fstab", "Makefile"}
	appNames   = []string{"chrome.exe", "firefox.exe", "outlook.exe", "svchost.exe", "Dropbox.exe", "Teams.exe", "slack.exe", "java.exe", "git.exe", "code.exe"}
	packages   = []string{"com.android.systemui", "com.tencent.mm", "com.google.android.gms", "org.mozilla.firefox", "com.whatsapp", "com.spotify.music", "com.example.health", "com.android.phone"}
	phrases    = []string{"connection reset by peer", "no such file or directory", "permission denied", "broken pipe", "context deadline exceeded", "resource temporarily unavailable", "too many open files", "operation not permitted", "host is down", "i/o timeout", "invalid argument", "end of file"}
)
