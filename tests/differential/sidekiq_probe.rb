# Samples Sidekiq's own retry delays and fetch order, for tests/differential.
#
# Reads one JSON request on stdin and prints one JSON answer. It calls the installed gem's
# JobRetry#delay_for and BasicFetch#queues_cmd directly, so the test compares jobsim with
# the real code, not with our reading of it.
require "json"
require "sidekiq"
require "sidekiq/job_retry"
require "sidekiq/fetch"

class ProbeRetryInJob
  include Sidekiq::Worker
  class << self
    attr_accessor :seconds
  end
  sidekiq_retry_in { |_count, _exc| ProbeRetryInJob.seconds }
  def perform; end
end

request = JSON.parse($stdin.read)
srand(request.fetch("seed"))
answer = {"version" => Sidekiq::VERSION}

if (spec = request["delay"])
  retrier = Sidekiq::JobRetry.new
  worker = nil
  unless spec["retry_in"].nil?
    ProbeRetryInJob.seconds = spec["retry_in"]
    worker = ProbeRetryInJob.new
  end
  error = RuntimeError.new("probe")
  answer["delay"] = spec.fetch("counts").to_h do |count|
    draws = Array.new(spec.fetch("samples")) { retrier.send(:delay_for, worker, count, error) }
    [count.to_s, draws]
  end
end

if (spec = request["fetch"])
  queues = spec.fetch("queues").flat_map { |name, weight| [name] * weight }
  fetch = Sidekiq::BasicFetch.new(queues: queues, strict: spec.fetch("strict"))
  answer["fetch"] = Array.new(spec.fetch("samples")) do
    fetch.queues_cmd.select { |q| q.is_a?(String) }.map { |q| q.delete_prefix("queue:") }
  end
end

puts JSON.generate(answer)
