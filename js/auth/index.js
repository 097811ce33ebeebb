'use strict';
/** Requester authentication: HTTP Basic and WS-Security UsernameToken, scrypt password hashes. */

const { createAuthenticator, DEFAULT_AUTHENTICATION } = require('./authenticator');
const { AuthenticationError } = require('./errors');
const { hashPassword, verifyPassword, parsePasswordHash, DEFAULT_PARAMS } = require('./passwordHash');
const { basicAuthorization, basicChallenge } = require('./basic');
const { failedAuthenticationEnvelope, FAILED_AUTHENTICATION_FAULTSTRING } = require('./fault');

module.exports = {
  createAuthenticator,
  DEFAULT_AUTHENTICATION,
  AuthenticationError,
  hashPassword,
  verifyPassword,
  parsePasswordHash,
  DEFAULT_PARAMS,
  basicAuthorization,
  basicChallenge,
  failedAuthenticationEnvelope,
  FAILED_AUTHENTICATION_FAULTSTRING,
};
