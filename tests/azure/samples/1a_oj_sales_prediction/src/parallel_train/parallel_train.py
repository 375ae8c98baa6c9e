"""Train one model per partition (shape of Azure's 1a parallel_train.py)."""

import argparse
import os
import pickle

import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.model_selection import train_test_split


def mape(y_true, y_pred):
    return round(np.mean(np.abs((y_true - y_pred) / y_true)) * 100, 2)


def init():
    parser = argparse.ArgumentParser()
    parser.add_argument("--drop_cols", type=str)
    parser.add_argument("--target_col", type=str)
    parser.add_argument("--date_col", type=str)
    parser.add_argument("--lagging_orders", type=str)
    parser.add_argument("--model_folder", type=str)
    args, _ = parser.parse_known_args()

    global target_col, date_col, lagging_orders, model_folder, drop_cols
    target_col = args.target_col
    date_col = args.date_col
    lagging_orders = [int(i) for i in args.lagging_orders.split(",")]
    model_folder = args.model_folder
    drop_cols = args.drop_cols.split(",")


def run(input_data, mini_batch_context):
    if not isinstance(input_data, pd.DataFrame):
        raise Exception("Not a valid DataFrame input.")
    if target_col not in input_data.columns:
        raise Exception("No target column found from input tabular data")
    print(f"partition_key_value = {mini_batch_context.partition_key_value}")

    input_data[date_col] = pd.to_datetime(input_data[date_col])
    input_data = input_data.set_index(date_col).sort_index(ascending=True)
    input_data = input_data.assign(Week_Year=input_data.index.isocalendar().week.values)
    input_data = input_data.drop(columns=drop_cols, errors="ignore")

    data_trans = input_data.copy()
    for lag_order in lagging_orders:
        data_trans["lag_" + str(lag_order)] = data_trans[target_col].shift(lag_order)
    data_trans = data_trans.dropna()

    features = data_trans.columns.drop(target_col)
    X = data_trans[features].values
    y = data_trans[target_col].values
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.05, random_state=12, shuffle=False
    )
    reg = GradientBoostingRegressor(random_state=12)
    reg.fit(X_train, y_train)
    reg_mape = mape(y_test, reg.predict(X_test))

    relative_path = os.path.join(
        model_folder, *list(str(i) for i in mini_batch_context.partition_key_value.values())
    )
    os.makedirs(relative_path, exist_ok=True)
    with open(os.path.join(relative_path, "my_model.pkl"), "wb") as f:
        pickle.dump(reg, f)

    result_df = pd.DataFrame()
    for key in mini_batch_context.partition_key_value.keys():
        result_df[key] = [mini_batch_context.partition_key_value[key]]
    result_df["MAPE"] = reg_mape
    return result_df
