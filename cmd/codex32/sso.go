package main

import (
	"github.com/codex32/codex32/handlers"
	"github.com/codex32/codex32/internal/config"
	"github.com/codex32/codex32/models"
)

// ssoConfig turns the settings into the handlers' SSO configuration.
func ssoConfig(cfg *config.Config) handlers.SSOConfig {
	s := handlers.SSOConfig{
		BaseURL:             cfg.BaseURL,
		GitHubBaseURL:       cfg.GitHubBaseURL,
		OIDCIssuer:          cfg.OIDCIssuer,
		OIDCName:            cfg.OIDCName,
		AllowedEmailDomains: cfg.AllowedEmailDomains,
		GitHubAllowedOrgs:   cfg.GitHubAllowedOrgs,
		Signup:              cfg.Signup,
		DefaultRole:         models.Role(cfg.DefaultRole),
		AdminEmails:         cfg.AdminEmails,
		AccountLinking:      cfg.AccountLinking,
	}
	if cfg.GoogleClientID != "" {
		s.Google = &handlers.OAuthClient{ID: cfg.GoogleClientID, Secret: cfg.GoogleClientSecret}
	}
	if cfg.GitHubClientID != "" {
		s.GitHub = &handlers.OAuthClient{ID: cfg.GitHubClientID, Secret: cfg.GitHubClientSecret}
	}
	if cfg.OIDCClientID != "" {
		s.OIDC = &handlers.OAuthClient{ID: cfg.OIDCClientID, Secret: cfg.OIDCClientSecret}
	}
	return s
}
