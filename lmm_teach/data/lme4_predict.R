# Predictions of lme4 1.1-31 (Debian r-cran-lme4), made by
#   Rscript lmm_teach/data/lme4_predict.R      (from the repository root)
# It writes lmm_teach/data/lme4_predict.json (data.load_lme4_predict_reference; chapter 18 and
# tests/test_random_effects.py compare with it). R is never needed to build or test.
# Each case: a REML fit, then predict(fit) and predict(fit, re.form = NA) on the data, and
# predict(fit, newdata, allow.new.levels = TRUE) and predict(fit, newdata, re.form = NA) on
# new rows that mix levels seen in the fit with levels not seen.
suppressMessages({library(lme4); library(jsonlite)})

read <- function(name) read.csv(file.path("lmm_teach", "data", paste0(name, ".csv")),
                                stringsAsFactors = TRUE)
sleep <- read("sleepstudy"); sleep$Subject <- factor(sleep$Subject)
sleep_groups <- transform(sleep, arm = factor(ifelse(as.integer(Subject) <= 9, "A", "B")))
penicillin <- read("penicillin")

cases <- list(
  list(name = "sleepstudy", data = "sleepstudy", frame = sleep,
       formula = "Reaction ~ Days + (Days | Subject)",
       newdata = data.frame(Days = c(0, 3, 9, 4.5), Subject = factor(c("308", "999", "372", "1")))),
  list(name = "sleep_interaction", data = "sleep_groups", frame = sleep_groups,
       formula = "Reaction ~ Days * arm + (1 | Subject)",
       newdata = data.frame(Days = c(1, 2, 7), arm = factor(c("A", "B", "B")),
                            Subject = factor(c("309", "new", "350")))),
  list(name = "penicillin", data = "penicillin", frame = penicillin,
       formula = "diameter ~ 1 + (1 | plate) + (1 | sample)",
       newdata = data.frame(plate = factor(c("a", "z", "b", "y")),
                            sample = factor(c("A", "B", "Q", "R"))))
)

one <- function(case) {
  fit <- lmer(as.formula(case$formula), data = case$frame, REML = TRUE)
  list(name = case$name, data = case$data, formula = case$formula,
       r_call = "predict(fit), predict(fit, re.form = NA), predict(fit, newdata, allow.new.levels = TRUE), predict(fit, newdata, re.form = NA)",
       fitted = I(unname(predict(fit))), fixed = I(unname(predict(fit, re.form = NA))),
       newdata = lapply(case$newdata, as.character),
       new = I(unname(predict(fit, case$newdata, allow.new.levels = TRUE))),
       new_fixed = I(unname(predict(fit, case$newdata, re.form = NA))))
}

writeLines(toJSON(list(lme4_version = as.character(packageVersion("lme4")),
                       cases = lapply(cases, one)),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path("lmm_teach", "data", "lme4_predict.json"))
