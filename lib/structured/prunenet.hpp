// PruneNet (arXiv 2501.15296): calibration-free structured FFN pruning. A small policy,
// shared by all blocks, scores each FFN neuron from its weights alone; it is trained with
// REINFORCE so that removing the lowest-scored neurons keeps the singular-value
// distributions of the gate, up and down matrices close (Kolmogorov–Smirnov) to the
// original ones. The trained policy is reusable at other ratios and on other models with
// the same hidden size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/backend.hpp"
#include "nn/model.hpp"

namespace surgeon::structured {

// score_i = σ(v · tanh(A x_i) + c · n_i + b), x_i = [gate_i, up_i] / rms, with rms the
// root-mean-square of the block's gate and up weights (scale invariance), and n_i the
// log-norms of gate row i, up row i and down column i, centred over the block (the down
// column is what the neuron writes back: a neuron with a tiny one matters little).
constexpr int kNormFeatures = 3;
class Policy {
public:
    Policy() = default;
    Policy(int64_t dim, int features, uint64_t seed);

    int64_t dim() const { return dim_; }
    int features() const { return features_; }
    // Keep-probabilities of every neuron of a block.
    std::vector<float> scores(const model::LayerWeights& layer) const;

    void save(const std::string& path) const;
    static Policy load(const std::string& path);

    // Parameters, flat: A (features × 2·dim), v (features), c (kNormFeatures), b.
    std::vector<double> params;

private:
    friend class PolicyTrainer;
    int64_t dim_ = 0;
    int features_ = 0;
};

// What the KS reward compares. matrices: the spectra of gate, up and down themselves (rows
// or columns removed), mean of three KS distances. joint: one KS distance between the pooled
// spectra of the three matrices. maps: the spectra of the dim × dim maps down·gate and
// down·up, where removing a neuron removes one rank-1 term, so the reward sees what a neuron
// contributes to the block output and not only its own row. output: the spectrum of the
// whole FFN map (down · (silu(gate x) ⊙ up x)) on fixed synthetic probe inputs
// x = z ⊙ rms_ffn, z ~ N(0, I): drawn from the weights' own norm scale, no text involved.
enum class Reward { matrices, maps, joint, output };
constexpr int64_t kProbeInputs = 256;
constexpr uint64_t kProbeSeed = 0x5eed;
const char* reward_name(Reward reward);
Reward parse_reward(const std::string& name);

struct TrainOptions {
    double ratio = 0.3;       // fraction of FFN neurons removed
    int steps = 150;          // optimisation steps, cycling over the blocks
    int samples = 8;          // selections sampled per step (their mean is the baseline)
    double learning_rate = 0.05;
    int features = 8;
    uint64_t seed = 1;
    Reward reward = Reward::matrices;
    // Start from the magnitude ranking log‖gate_i‖ + log‖up_i‖ (initial weights of the
    // centred log-norm features gate, up, down). Without it the policy starts from a random
    // ranking and the KS reward alone ends worse than the L2 baseline on stories260K
    // (docs/structured.md).
    bool norm_prior = true;
    double norm_prior_weights[kNormFeatures] = {1.0, 1.0, 0.0};
    // Start with the dense part silent (v = 0): the initial ranking is then exactly the
    // prior, whatever the seed, instead of the prior plus a seed-dependent perturbation.
    bool quiet_start = true;
    // Advantages (r − mean) / std of the step's samples instead of r − mean: the step size
    // does not depend on the scale of the KS differences of a block.
    bool normalize_advantage = true;
    double entropy = 0.0;  // weight of the mean Bernoulli entropy of the keep-probabilities
    // Weight of the mean KL divergence between the keep-probabilities and those of the
    // starting policy (the prior ranking), as in KL-regularised policy optimisation: the
    // KS reward refines the prior instead of replacing it.
    double anchor = 300.0;
    // Train this many policies (seeds seed + r·1000003) and keep the one whose deterministic
    // top-k has the best total reward over all blocks (the training objective, no text).
    int restarts = 1;
};

struct TrainReport {
    std::vector<double> mean_reward;  // per step (of the policy that was kept)
    std::vector<double> final_reward; // per restart: total reward of its top-k over the blocks
    int chosen = 0;                   // the restart kept
    double seconds = 0.0;
};

// Reward of keeping `keep` in a block: −mean KS distance of the spectra `reward` compares.
double selection_reward(Backend& be, const model::LayerWeights& layer, const std::vector<int64_t>& keep,
                        Reward reward = Reward::matrices);

// FFN hidden activations silu(gate x) ⊙ up x of `probes` synthetic inputs (probes × hidden)
// and the FFN outputs (probes × dim) when only the `keep` neurons remain.
Matrix probe_activations(Backend& be, const model::LayerWeights& layer, int64_t probes, uint64_t seed);
Matrix probe_outputs(Backend& be, const Matrix& activations, const Matrix& down, const std::vector<int64_t>& keep);

// Total reward, over all blocks, of the policy's deterministic top-k at `ratio`.
double policy_reward(Backend& be, const model::Model& model, const Policy& policy, double ratio, Reward reward);

Policy train_policy(const model::Model& model, const TrainOptions& options, const Context& ctx,
                    TrainReport* report = nullptr);

// Number of neurons a block keeps at a removal ratio (at least one).
int64_t kept_neurons(int64_t hidden, double ratio);

// Per-block removal ratios from the policy's spectral distances: blocks whose spectrum
// degrades least are pruned more, the total number of removed neurons staying at
// ratio · Σ hidden (each block between 0 and max_ratio).
std::vector<double> spectral_layer_ratios(Backend& be, const model::Model& model, const Policy& policy,
                                          double ratio, double max_ratio = 0.9);

// The allocation behind it: block l (hidden[l] neurons, distance dist[l] > 0) removes a
// share proportional to 1/dist[l], clamped to max_ratio, the total staying ratio·Σ hidden.
std::vector<double> ratios_from_distances(const std::vector<double>& dist, const std::vector<double>& hidden,
                                          double ratio, double max_ratio);

}  // namespace surgeon::structured
