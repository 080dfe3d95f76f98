package channel

import (
	"context"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
)

func init() { Register("sns", newSNSTopic) }

// snsTopic publishes the notification as JSON to an SNS topic, with a short
// Subject for email subscribers and message attributes (kind, severity,
// category, account) that subscription filter policies can match.
type snsTopic struct {
	name   string
	client *sns.Client
	topic  string
	fifo   bool
}

type snsTopicConfig struct {
	awsConfig `yaml:",inline"`
	TopicARN  string `yaml:"topic_arn"`
}

var snsTopicARN = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)

func newSNSTopic(c Config, d Deps) (Channel, error) {
	var cfg snsTopicConfig
	if err := c.Decode(&cfg); err != nil {
		return nil, err
	}
	if !snsTopicARN.MatchString(cfg.TopicARN) {
		return nil, c.FieldError("topic_arn", "must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
	}
	if cfg.Region == "" && d.AWS.Region == "" {
		cfg.Region = strings.Split(cfg.TopicARN, ":")[3]
	}
	if err := cfg.validate(c, d); err != nil {
		return nil, err
	}
	client := sns.NewFromConfig(d.AWS, func(o *sns.Options) { cfg.apply(&o.Region, &o.BaseEndpoint, &o.Retryer) })
	return &snsTopic{name: c.Name, client: client, topic: cfg.TopicARN, fifo: strings.HasSuffix(cfg.TopicARN, ".fifo")}, nil
}

func (s *snsTopic) Name() string { return s.name }

// maxSNSSubject: "Subjects must be UTF-8 text with no line breaks or
// control characters, and must be less than 100 characters long" (SNS
// Publish API); ASCII keeps every email client's rendering the same.
const maxSNSSubject = 99

// maxSNSMessage keeps the JSON message well under SNS's 256 KB (262,144
// bytes) Publish limit, attributes included.
const maxSNSMessage = 200 << 10

// snsSubject is a Subject SNS accepts: plain text, ASCII printable, one
// line, under 100 characters.
func snsSubject(title Text) string {
	var sb strings.Builder
	sb.WriteString("[rootwatch] ")
	for _, r := range title.In(Plain) {
		if r >= 0x20 && r < 0x7f {
			sb.WriteRune(r)
		} else {
			sb.WriteByte('?')
		}
	}
	return Fit(SMS, strings.TrimSpace(sb.String()), maxSNSSubject) // SMS: an ASCII "..." marker
}

func (s *snsTopic) Send(ctx context.Context, n *Notification) (map[string]string, error) {
	body := dataBody(n, time.Time{})
	// Drop findings until the message fits.
	var b []byte
	for {
		var err error
		if b, err = encodeJSON(body); err != nil {
			return nil, Permanent(err)
		}
		if len(b) <= maxSNSMessage || len(body.Findings) == 0 {
			break
		}
		body.Findings = body.Findings[:len(body.Findings)/2]
	}
	m := Render(n)
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(orDash(Untrusted(v, 64).In(Plain)))}
	}
	in := &sns.PublishInput{
		TopicArn: aws.String(s.topic),
		Subject:  aws.String(snsSubject(m.Title)),
		Message:  aws.String(string(b)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"kind":      str(string(n.Kind)),
			"severity":  str(string(n.Incident.Severity)),
			"category":  str(string(n.Incident.Category)),
			"accountId": str(n.Incident.AccountID),
		},
	}
	if s.fifo {
		in.MessageGroupId = aws.String(providerKey("", n.Incident.ID, 128))
		key := n.IdempotencyKey
		if key == "" {
			key = n.Incident.ID + "/" + string(n.Kind)
		}
		in.MessageDeduplicationId = aws.String(providerKey("", key, 128))
	}
	out, err := s.client.Publish(ctx, in)
	if err != nil {
		return nil, awsError(s.name, "sns publish", err)
	}
	if aws.ToString(out.MessageId) == "" {
		return nil, errNoMessageID(s.name, "sns publish")
	}
	return map[string]string{"message_id": aws.ToString(out.MessageId)}, nil
}
