# Reference fits for tests/test_lmer_extra.py, made with lme4 1.1-31 (Debian r-cran-lme4) by
#   Rscript tests/reference/lme4_extra.R      (from the repository root)
# It writes tests/reference/lme4_extra.json. R is not needed to run the tests; this script is
# kept so that the numbers can be made again. Each case names the data set, the change made to
# it (the Python test makes the same change) and the formula; every model is fitted by ML and REML.
suppressMessages({library(lme4); library(jsonlite)})

read <- function(name) read.csv(file.path("lmm_teach", "data", paste0(name, ".csv")),
                                stringsAsFactors = TRUE)
sleep <- read("sleepstudy"); sleep$Subject <- factor(sleep$Subject)
pastes <- read("pastes"); penicillin <- read("penicillin"); dyestuff <- read("dyestuff")
cbpp <- read("cbpp"); cbpp$herd <- factor(cbpp$herd); cbpp$period <- factor(cbpp$period)

# The same changes as `CHANGES` in tests/test_lmer_extra.py (0-based row i is R row i + 1):
unbalanced <- sleep[(seq_len(nrow(sleep)) - 1) %% 7 != 3, ]
sleep_int <- transform(sleep, Subject = as.integer(as.character(Subject)))
sleep_groups <- transform(sleep, arm = ifelse(as.integer(Subject) <= 9, "A", "B"),
                          Days2 = Days^2)
dyestuff_int <- transform(dyestuff, Batch = as.integer(Batch))

cases <- list(
  list(name = "sleep_unbalanced_slopes", data = "unbalanced", frame = unbalanced,
       formula = "Reaction ~ Days + (Days | Subject)"),
  list(name = "sleep_uncorrelated", data = "sleepstudy", frame = sleep,
       formula = "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)"),
  list(name = "sleep_slope_only", data = "sleepstudy", frame = sleep,
       formula = "Reaction ~ Days + (0 + Days | Subject)"),
  list(name = "sleep_integer_groups", data = "sleep_int", frame = sleep_int,
       formula = "Reaction ~ Days + (Days | Subject)"),
  list(name = "sleep_interaction", data = "sleep_groups", frame = sleep_groups,
       formula = "Reaction ~ Days * arm + (1 | Subject)"),
  list(name = "sleep_no_intercept", data = "sleepstudy", frame = sleep,
       formula = "Reaction ~ 0 + Days + (1 | Subject)"),
  list(name = "sleep_three_by_three", data = "sleep_groups", frame = sleep_groups,
       formula = "Reaction ~ Days + Days2 + (Days + Days2 | Subject)"),
  list(name = "cbpp_categorical", data = "cbpp", frame = cbpp,
       formula = "incidence ~ period + size + (1 | herd)"),
  list(name = "pastes_fixed_batch", data = "pastes", frame = pastes,
       formula = "strength ~ batch + (1 | cask:batch)"),
  list(name = "penicillin_fixed_sample", data = "penicillin", frame = penicillin,
       formula = "diameter ~ sample + (1 | plate)"),
  list(name = "dyestuff_integer_batch", data = "dyestuff_int", frame = dyestuff_int,
       formula = "Yield ~ 1 + (1 | Batch)")
)

one_fit <- function(case, reml) {
  fit <- lmer(as.formula(case$formula), data = case$frame, REML = reml)
  vc <- as.data.frame(VarCorr(fit))
  vc$var1[is.na(vc$var1)] <- ""; vc$var2[is.na(vc$var2)] <- ""
  list(loglik = as.numeric(logLik(fit)), objective = unname(getME(fit, "devcomp")$cmp[if (reml) "REML" else "dev"]),
       fixef = as.list(fixef(fit)), se = unname(sqrt(diag(as.matrix(vcov(fit))))),
       sigma = sigma(fit), theta = unname(getME(fit, "theta")),
       varcorr = vc[, c("grp", "var1", "var2", "vcov", "sdcor")],
       nobs = nobs(fit), ngrps = as.list(ngrps(fit)), singular = isSingular(fit),
       lme4_messages = as.list(as.character(fit@optinfo$conv$lme4$messages)))
}

out <- lapply(cases, function(case) list(
  name = case$name, data = case$data, formula = case$formula,
  r_call = sprintf("lmer(%s, data = %s, REML = <FALSE|TRUE>)", case$formula, case$data),
  ML = one_fit(case, FALSE), REML = one_fit(case, TRUE)))
writeLines(toJSON(list(lme4_version = as.character(packageVersion("lme4")), cases = out),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path("tests", "reference", "lme4_extra.json"))
