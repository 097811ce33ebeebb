'use strict';
// Former home of the outbound notification messages, now written by js/soap/builder.js. The
// path stays for callers outside js/ (bench/notifications.js, tests/support/) until they import
// the builder directly.
const {
  NOTIFICATION_NS, deliveryEnvelope, statusNotificationEnvelope, statusErrorEnvelope, statusEndEnvelope,
} = require('./builder');

module.exports = {
  NOTIFICATION_NS,
  deliveryEnvelope,
  statusNotificationEnvelope,
  statusErrorEnvelope,
  statusEndEnvelope,
};
