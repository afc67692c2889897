package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"unicode/utf8"

	"github.com/ssekit/ssekit/lifecycle"
)

// Errors about the topics of a subscription or a publish.
var (
	// ErrInvalidTopic is returned for a topic name longer than
	// Options.MaxTopicLen, with a control character, or not UTF-8.
	ErrInvalidTopic = errors.New("hub: invalid topic")
	// ErrForbidden is what Options.Authorize returns (or wraps) to refuse
	// a topic; Admit answers it with 403 Forbidden.
	ErrForbidden = errors.New("hub: topic not allowed")
)

// DefaultMaxTopicLen is Options.MaxTopicLen's default, in bytes.
const DefaultMaxTopicLen = 256

// checkTopic reports whether topic is a valid name.
func (h *Hub) checkTopic(topic string) error {
	switch {
	case topic == "":
		return ErrNoTopic
	case len(topic) > h.opts.MaxTopicLen:
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidTopic, len(topic), h.opts.MaxTopicLen)
	case !utf8.ValidString(topic):
		return fmt.Errorf("%w: %q is not UTF-8", ErrInvalidTopic, topic)
	}
	for _, r := range topic {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: %q has a control character", ErrInvalidTopic, topic)
		}
	}
	return nil
}

// subscription returns topics sorted, without duplicates, once each is
// valid, there are at most Options.MaxTopics, and Options.Authorize (if
// set) allows every one for r.
func (h *Hub) subscription(ctx context.Context, r *lifecycle.Request, topics []string) ([]string, error) {
	topics = slices.Compact(slices.Sorted(slices.Values(topics)))
	if len(topics) == 0 {
		return nil, ErrNoTopic
	}
	if len(topics) > h.opts.MaxTopics {
		return nil, fmt.Errorf("%w: %d, more than %d", ErrTooManyTopics, len(topics), h.opts.MaxTopics)
	}
	for _, t := range topics {
		if err := h.checkTopic(t); err != nil {
			return nil, err
		}
	}
	if h.opts.Authorize != nil {
		for _, t := range topics {
			if err := h.opts.Authorize(ctx, r, t); err != nil {
				return nil, fmt.Errorf("topic %q: %w", t, err)
			}
		}
	}
	return topics, nil
}

// Admit returns a function for lifecycle.Options.Admit that checks the
// topics a request will subscribe to before its stream opens, so that a
// client asking for what it may not have gets an error status instead of a
// 200 that ends at once (which an EventSource would retry forever).
// topicsOf must return the topics the endpoint's handler passes to Serve
// for the same request. The request is refused with 400 Bad Request if a
// topic is empty or invalid, or there are more than Options.MaxTopics; if
// Options.Authorize refuses a topic, with the *lifecycle.Refusal it
// returned, or 403 Forbidden for ErrForbidden. Any other error from
// Authorize (it could not decide) refuses with 403 and is logged by the
// endpoint as an error. Serve checks the same again (without a status to
// send by then), so Authorize runs twice for an admitted stream.
//
// The returned function is safe for concurrent use, as topicsOf and
// Authorize must be.
func (h *Hub) Admit(topicsOf func(r *lifecycle.Request) []string) func(context.Context, *lifecycle.Request) error {
	return func(ctx context.Context, r *lifecycle.Request) error {
		_, err := h.subscription(ctx, r, topicsOf(r))
		var refusal *lifecycle.Refusal
		switch {
		case err == nil:
			return nil
		case errors.As(err, &refusal):
			return err
		case errors.Is(err, ErrForbidden):
			return &lifecycle.Refusal{Status: http.StatusForbidden, Message: err.Error()}
		case errors.Is(err, ErrNoTopic), errors.Is(err, ErrInvalidTopic), errors.Is(err, ErrTooManyTopics):
			return &lifecycle.Refusal{Status: http.StatusBadRequest, Message: err.Error()}
		}
		return err
	}
}
