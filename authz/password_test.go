package authz

import (
	"strings"
	"testing"
)

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		name     string
		user     string
		password string
		policy   PasswordPolicy
		reason   string // "" = accepted
	}{
		{"R-API-20.1 empty", "alice", "", PasswordPolicy{}, "Password is too short"},
		{"no user name", "", "Xq7#mPz!2vLw", PasswordPolicy{}, "No username is given"},
		{"R-API-20.2 min length", "alice", "Xq7#mPz!2vLw", PasswordPolicy{MinLength: 13}, "Password is too short"},
		{"R-API-20.2 min length met", "alice", "Xq7#mPz!2vLw", PasswordPolicy{MinLength: 12}, ""},
		{"R-API-20.2 min length counts UTF-16 units", "alice", "Xq7#mPz!2vL€", PasswordPolicy{MinLength: 13}, "Password is too short"},
		{"R-API-20.3 too long", "alice", strings.Repeat("Xq7#mPz!2v", 10) + "L", PasswordPolicy{}, "Password is too long"},
		{"R-API-20.3 100 is fine", "alice", strings.Repeat("Xq7#mPz!2v", 10), PasswordPolicy{}, ""},
		{"R-API-20.4 regex default message", "alice", "xq7#mpz!2vlw", PasswordPolicy{Regex: `(?=.*[A-Z])(?=.*[0-9]).{8,}`}, "Password does not match minimum criteria"},
		{"R-API-20.4 regex custom message", "alice", "xq7#mpz!2vlw", PasswordPolicy{Regex: `(?=.*[A-Z])(?=.*[0-9]).{8,}`, RegexMessage: "Need an upper case letter"}, "Need an upper case letter"},
		{"R-API-20.4 regex match", "alice", "Xq7#mPz!2vLw", PasswordPolicy{Regex: `(?=.*[A-Z])(?=.*[0-9]).{8,}`}, ""},
		{"R-API-20.4 regex is a whole match", "alice", "Xq7#mPz!2vLw", PasswordPolicy{Regex: `Xq7`}, "Password does not match minimum criteria"},
		{"R-API-20.4 plain regex", "alice", "Xq7#mPz!2vLw", PasswordPolicy{Regex: `[^ ]{12}`}, ""},
		{"R-API-20.4 regex before strength", "alice", "password", PasswordPolicy{Regex: `[0-9]+`}, "Password does not match minimum criteria"},
		{"R-API-20.4 uncompilable regex fails closed", "alice", "Xq7#mPz!2vLw", PasswordPolicy{Regex: `(?<=x)y`}, "Password does not match minimum criteria"},
		{"R-API-20.5 weak", "alice", "password", PasswordPolicy{}, "Weak password"},
		{"R-API-20.5 seed password equal to name", "judy", "judy", PasswordPolicy{}, "Weak password"},
		{"R-API-20.5 good refused by default strong", "alice", "zebra-Kettle", PasswordPolicy{}, "Weak password"},
		{"R-API-20.5 good accepted with good", "alice", "zebra-Kettle", PasswordPolicy{ScoreStrength: "good"}, ""},
		{"R-API-20.5 strength is case-insensitive", "alice", "zebra-Kettle", PasswordPolicy{ScoreStrength: "FAIR"}, ""},
		{"R-API-20.5 very_strong", "alice", "Blue-Falcon-42", PasswordPolicy{ScoreStrength: "very_strong"}, "Weak password"},
		{"R-API-20.5 unknown strength counts as strong", "alice", "zebra-Kettle", PasswordPolicy{ScoreStrength: "medium"}, "Weak password"},
		{"R-API-20.6 similar to user name", "somebody", "somebody_Q8#zx", PasswordPolicy{}, "Password is similar to user name"},
		{"strong", "alice", "Xq7#mPz!2vLw", PasswordPolicy{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckPassword(tc.user, tc.password, tc.policy)
			if tc.reason == "" {
				if got != nil {
					t.Fatalf("CheckPassword = %s, want nil", got.Body)
				}
				return
			}
			if got == nil {
				t.Fatalf("CheckPassword = nil, want %q", tc.reason)
			}
			assertErrorBody(t, got, 400, `{"status":"error","reason":`+jsonString(tc.reason)+`}`)
		})
	}
}

func TestPasswordPolicyValidate(t *testing.T) {
	tests := []struct {
		name    string
		policy  PasswordPolicy
		wantErr bool
	}{
		{"zero value", PasswordPolicy{}, false},
		{"all strengths", PasswordPolicy{ScoreStrength: "very_strong"}, false},
		{"unknown strength", PasswordPolicy{ScoreStrength: "weak"}, true},
		{"look-aheads", PasswordPolicy{Regex: `(?=.*[A-Z])(?=.*[^a-zA-Z\d])(?=.*[0-9])(?=.*[a-z]).{8,}`}, false},
		{"look-behind", PasswordPolicy{Regex: `(?<=a)b`}, true},
		{"broken", PasswordPolicy{Regex: `(`}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.policy.Validate(); (err != nil) != tc.wantErr {
				t.Fatalf("Validate() = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}

func TestHashPassword(t *testing.T) {
	long := strings.Repeat("Xq7#mPz!2v", 10) // 100 bytes: bcrypt uses the first 72
	tests := []struct {
		name     string
		password string
	}{
		{"simple", "Xq7#mPz!2vLw"},
		{"unicode", "pässwörd-€"},
		{"longer than 72 bytes", long},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := HashPassword(tc.password, 4)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(h, "$2y$04$") {
				t.Fatalf("hash %q lacks the $2y$04$ prefix", h)
			}
			for _, prefix := range []string{"$2y$", "$2a$", "$2b$"} {
				if !VerifyPassword(prefix+h[4:], tc.password) {
					t.Errorf("VerifyPassword(%s...) = false", prefix)
				}
			}
			if VerifyPassword(h, tc.password+"x") && len(tc.password) < 72 {
				t.Error("VerifyPassword accepted a wrong password")
			}
		})
	}
}

func TestHashPasswordRounds(t *testing.T) {
	tests := []struct {
		rounds  int
		prefix  string
		wantErr bool
	}{
		{3, "", true},
		{4, "$2y$04$", false},
		{32, "", true},
	}
	for _, tc := range tests {
		h, err := HashPassword("x", tc.rounds)
		if (err != nil) != tc.wantErr || !strings.HasPrefix(h, tc.prefix) {
			t.Errorf("HashPassword(rounds %d) = %q, %v", tc.rounds, h, err)
		}
	}
}

func TestVerifyPassword(t *testing.T) {
	tests := []struct {
		name     string
		hash     string
		password string
		want     bool
	}{
		// demo/internal_users.yml: cost 12, $2y$ (README of opensearch-config)
		{"demo admin", "$2y$12$qBvSNHNz2AYToWsr2CamOetJ5RQr6WVHsVbjWveuLqi5m0SQOp4dS", "myStrongPassword123!", true},
		{"demo admin wrong", "$2y$12$qBvSNHNz2AYToWsr2CamOetJ5RQr6WVHsVbjWveuLqi5m0SQOp4dS", "admin", false},
		{"not bcrypt", "pbkdf2$x", "x", false},
		{"empty hash", "", "", false},
		{"garbage bcrypt", "$2y$04$short", "x", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := VerifyPassword(tc.hash, tc.password); got != tc.want {
				t.Fatalf("VerifyPassword = %v, want %v", got, tc.want)
			}
		})
	}
}
