package handlers

import (
	"errors"

	"github.com/codex32/codex32/models"
)

// validationFields unpacks a models.ValidationError.
func validationFields(err error) (map[string]string, bool) {
	var ve *models.ValidationError
	if errors.As(err, &ve) {
		return ve.Fields, true
	}
	return nil, false
}
