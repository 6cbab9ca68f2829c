package handlers

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/codex32/codex32/models"
	"github.com/codex32/codex32/runner"
	"github.com/codex32/codex32/web"
)

// secretUse is a bot save the secret checks look at: the config it will
// run (nil when the config does not change), the bot as it will be, and
// its tags before (nil for a new bot).
type secretUse struct {
	cfg     runner.Config
	user    models.SecretUser
	oldTags []string
}

// secretProblems refuses, by form field, a save that would give a bot a
// secret it may not have: a config referencing a secret not granted to it
// ("config", naming the secret; audited as secret.refused), or a tag that
// unlocks secrets added by someone who is not an admin ("tags": tag grants
// would otherwise let any author grant themselves a secret).
func (h *handler) secretProblems(c *fiber.Ctx, s secretUse) (map[string]string, error) {
	ctx := c.UserContext()
	out := map[string]string{}
	if added := addedTags(s.oldTags, s.user.Tags); len(added) > 0 && !web.CurrentUser(c).Can(models.PermSystemSettings) {
		granted, err := models.GrantedTags(ctx, h.DB.Bun)
		if err != nil {
			return nil, err
		}
		var locked []string
		for _, t := range added {
			if granted[t] {
				locked = append(locked, t)
			}
		}
		if len(locked) > 0 {
			out["tags"] = "only an admin can add " + quoteList(locked) + ": secrets are granted to bots with " + pluralWord(len(locked), "this tag", "these tags")
		}
	}
	if s.cfg == nil || len(s.cfg.SecretNames()) == 0 {
		return out, nil
	}
	refusals, err := models.CheckSecretUse(ctx, h.DB.Bun, s.cfg.SecretNames(), s.user)
	if err != nil || len(refusals) == 0 {
		return out, err
	}
	msgs := make([]string, len(refusals))
	for i, r := range refusals {
		msgs[i] = r.Error()
	}
	out["config"] = strings.Join(msgs, "; ")
	if err := models.AuditSecretRefusals(ctx, h.DB.Bun, web.Actor(c), s.user.BotID, "save", refusals); err != nil {
		return nil, err
	}
	return out, nil
}

// addedTags are the tags in next (normalised) that were not in prev.
func addedTags(prev, next []string) []string {
	prev = models.NormaliseTags(prev)
	var out []string
	for _, t := range models.NormaliseTags(next) {
		if !slices.Contains(prev, t) {
			out = append(out, t)
		}
	}
	return out
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = `"` + s + `"`
	}
	return strings.Join(q, ", ")
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
