// Package source reads the backlog the autoscaler decides from: the boiler
// store's named queues ([Store]), the length of Redis lists that Celery,
// RQ or Sidekiq use as queues ([RedisList]), or a count query on an SQL
// table such as delayed_job's or GoodJob's ([SQL]). Each implements
// [autoscale.Source].
package source
