package langchain

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/tmc/langchaingo/llms"
	"github.com/tmc/langchaingo/llms/bedrock"

	"github.com/watchkeeper/watchkeeper/agent"
)

// newBedrock builds a Bedrock model on langchaingo, which calls
// InvokeModel with each model family's own body. Only its Claude body
// carries tools; every other family (Llama, Nova, Titan, Cohere, AI21)
// gets the conversation as one prompt, so the agent speaks ReAct to it.
func newBedrock(ctx context.Context, cfg Config, hc *http.Client, retries int) (*Model, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("bedrock: load the AWS configuration (AWS_PROFILE, ~/.aws/config): %w", err)
	}
	if awsCfg.Region == "" {
		return nil, errors.New("bedrock: no AWS region; set llm.region (e.g. us-east-1) or AWS_REGION")
	}
	// The SDK's own retryer is off: retry.Transport retries under it, by
	// the policy every provider shares (llm.max_retries, Retry-After), so
	// the two do not multiply. A retry resends the signed request as it
	// was, which is valid for the signature's five minutes.
	bhc := *hc
	bhc.Transport = replayable{next: hc.Transport}
	client := bedrockruntime.NewFromConfig(awsCfg, func(o *bedrockruntime.Options) {
		o.HTTPClient = &bhc
		o.Retryer = aws.NopRetryer{}
		if cfg.BaseURL != "" {
			o.BaseEndpoint = aws.String(strings.TrimRight(cfg.BaseURL, "/"))
		}
	})
	llm, err := bedrock.New(bedrock.WithClient(client), bedrock.WithModel(cfg.Model))
	if err != nil {
		return nil, fmt.Errorf("bedrock: %w", err)
	}
	style := TextOnly
	if bedrockFamily(cfg.Model) == "anthropic" {
		style = Grouped
	}
	where := cfg.BaseURL
	if where == "" {
		where = "https://bedrock-runtime." + awsCfg.Region + ".amazonaws.com"
	}
	// Streaming stays off: langchaingo's Bedrock stream passes text on
	// but drops the tool_use blocks, so a streamed step would lose its
	// tool calls.
	m := Wrap(emptyReply{llm}, cfg.Model, style, false)
	m.explain = func(err error, _ bool) error { return explainBedrock(err, cfg.Model, where, awsCfg.Region, retries) }
	return m, nil
}

// bedrockFamily is the model family langchaingo picks its request body
// by, checked in langchaingo's order.
func bedrockFamily(model string) string {
	switch {
	case strings.Contains(model, ".nova-") || strings.Contains(model, "amazon.nova-"):
		return "nova"
	case strings.Contains(model, "ai21"):
		return "ai21"
	case strings.Contains(model, "amazon"):
		return "amazon"
	case strings.Contains(model, "anthropic"):
		return "anthropic"
	case strings.Contains(model, "cohere"):
		return "cohere"
	case strings.Contains(model, "meta"):
		return "meta"
	}
	return ""
}

// emptyReply passes an empty reply on as an empty message, which the
// agent answers with a nudge: langchaingo's Bedrock turns Claude's empty
// content (it happens after tool results) into the error "no results",
// which would end the run.
type emptyReply struct{ llms.Model }

func (e emptyReply) GenerateContent(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	resp, err := e.Model.GenerateContent(ctx, msgs, opts...)
	if err != nil && err.Error() == "no results" {
		return &llms.ContentResponse{Choices: []*llms.ContentChoice{{StopReason: "end_turn"}}}, nil
	}
	return resp, err
}

// awsAPIError is what the AWS SDK's service errors implement.
type awsAPIError interface {
	error
	ErrorCode() string
	ErrorMessage() string
}

// bedrockOverflow matches how Bedrock and Claude say the prompt is too long.
var bedrockOverflow = regexp.MustCompile(`(?i)(input is too long|prompt is too long|too many (input )?tokens|context (window|length))`)

// explainBedrock turns the SDK's errors ("operation error Bedrock Runtime:
// InvokeModel, https response error StatusCode: 403, …") into ones that
// say what to change.
func explainBedrock(err error, model, where, region string, retries int) error {
	var api awsAPIError
	if !errors.As(err, &api) {
		return fmt.Errorf("calling Bedrock at %s: %w; check llm.region, llm.base_url and that AWS credentials are available (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance or pod role)", where, err)
	}
	what := api.ErrorCode() + ": " + api.ErrorMessage()
	switch api.ErrorCode() {
	case "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
		"MissingAuthenticationTokenException", "ExpiredTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch":
		return fmt.Errorf("AWS rejected the credentials for Bedrock at %s (%s); check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (or AWS_PROFILE), and that the clock is right: %w", where, what, err)
	case "AccessDeniedException":
		return fmt.Errorf("the AWS identity may not invoke model %q in %s (%s); grant it bedrock:InvokeModel on the model and enable the model under Bedrock → Model access: %w", model, region, what, err)
	case "ResourceNotFoundException":
		return fmt.Errorf("Bedrock in %s does not know model %q (%s); check llm.model and llm.region (newer models need an inference profile id such as us.anthropic.…): %w", region, model, what, err)
	case "ThrottlingException", "ServiceQuotaExceededException", "ModelNotReadyException", "TooManyRequestsException":
		return fmt.Errorf("Bedrock is throttling us (%s) after %d retries; wait and ask again, or raise the account's quota for %s: %w", what, retries, model, err)
	case "InternalServerException", "ServiceUnavailableException", "ModelTimeoutException", "ModelErrorException":
		return fmt.Errorf("Bedrock failed (%s) after %d retries; try again later: %w", what, retries, err)
	case "ValidationException":
		if strings.Contains(api.ErrorMessage(), "model identifier is invalid") {
			return fmt.Errorf("Bedrock in %s does not know model %q (%s); check llm.model and llm.region: %w", region, model, what, err)
		}
		if bedrockOverflow.MatchString(api.ErrorMessage()) {
			return fmt.Errorf("model %q on Bedrock: the request is longer than its context window (%s): %w", model, what, agent.ErrContextLength)
		}
		return fmt.Errorf("Bedrock rejected the request for model %q (%s): %w", model, what, err)
	}
	return fmt.Errorf("Bedrock at %s: %w", where, err)
}
