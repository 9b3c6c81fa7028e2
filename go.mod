module github.com/watchkeeper/watchkeeper

go 1.26.8

require (
	github.com/sashabaranov/go-openai v1.43.0
	go.opentelemetry.io/otel v1.47.0
	go.opentelemetry.io/otel/trace v1.47.0
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/sync v0.25.0
)

require github.com/cespare/xxhash/v2 v2.3.0 // indirect
